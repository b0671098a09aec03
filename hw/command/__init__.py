"""The board's command processor: verified frames in, replies out, the engine driven in between.

`CommandProcessor` sits between the `Deframer`/`Enframer` pair (hw/framing.py) and the engine
(hw/engine.py) and carries out the commands of hw/protocol.py one frame at a time. It only
sequences the components that do the work:

- `FrameCheck` (check.py): what to do with a frame, from its header: retry, new or SEQUENCE,
  and the payload length each command takes;
- `AccessRequest` (access.py): a WRITE or READ payload in, the request and its range check out;
- `EventsUnpacker` (events.py): an EVENTS payload in, the engine's input events out;
- `ResultPacker` (results.py): the result FIFO, offering whole events for RESULTS replies;
- `ErrorReply` (error.py): every ERROR reply, the Deframer's reports included;
- `ReplyBuffer` (reply.py): the reply being built and sent, and the one stored for retries.

The rules they carry out together follow.

Replies. Every reply a command produces is first written into the reply buffer (a Memory of
`max_payload` bytes, with its seq/command/length in registers) and then sent from there. A frame
whose seq equals the last one carried out is a retry: the buffer is sent again and nothing else
happens, so no WRITE, EVENTS or RESET ever acts twice. Error replies that did nothing (BAD_CRC,
BAD_LENGTH, UNKNOWN_COMMAND, SEQUENCE, BUSY, CAPACITY of a WRITE or READ) are not written into
the buffer: they go out straight from a register, so a retry of the previous command still finds
its reply.

Sequence numbers (hw/protocol.py). After reset nothing counts as carried out and any seq is new.
Then a frame with seq `last` is a retry, `last + 1` is new, and anything else is answered with
SEQUENCE (detail: `last + 1`) and otherwise ignored. A new frame whose seq can be trusted (its CRC
passed) moves `last` to its seq even when it is answered with an error, because the host numbers
its next command `seq + 1` after an error too. Such an error is not remembered: a retry of that
seq is carried out afresh, which is harmless since the error did nothing. BAD_CRC and BAD_LENGTH
from the Deframer carry a seq that cannot be trusted and move nothing.

EVENTS streams its addresses into the engine as the payload arrives (there is no second copy of
the timestep to check first). So:

- before the first address the controller waits until the engine can take a timestep (its
  `i_events.ready`, which then stays high until the end marker); if that takes `busy_cycles`,
  the answer is BUSY and nothing was sent;
- an odd-length address list or an empty payload is BAD_LENGTH and an unknown format
  UNKNOWN_COMMAND, both decided from the format byte before any address goes out;
- an address >= max_inputs, or an address list holding more than max_inputs entries (repeats),
  is dropped while the others go through, the end marker follows as always so that the engine's
  timestep stays well formed, and the reply is CAPACITY with max_inputs (u32) as detail. That
  timestep did happen, so this one error reply is stored like a success: a retry gets CAPACITY
  again and does not add a second timestep.

Results. Output events go into a FIFO of `fifo_depth` events as the engine produces them. When it
is full the engine waits on `o_events` (its `layer_stalls` count that): backpressure, nothing is
lost. RESULTS moves as many whole events as fit in `max_payload` bytes from the FIFO into the
reply buffer. The default depth, 512 events, is about two full RESULTS replies at the default
build (5-byte events, 204 per reply), so the engine keeps running while one reply is on the line
and the host asks for the next; a deeper FIFO only lets a sample run further ahead of the host.
If it is full and both of the engine's input buffers are too, EVENTS answers BUSY after
`busy_cycles`: the host then reads RESULTS and sends the timestep again.

COUNTERS sends the engine's counters as they are: those of the sample under way, or between
samples those of the last one (the engine clears them when the next sample's first timestep
starts).

RESET pulses `engine_reset` for one cycle (the top level wraps the engine in a ResetInserter) and
empties the result FIFO. The engine keeps the Program: its memories and its global settings
survive the reset.

Lengths. A payload of another length than the command takes is answered BAD_LENGTH with the
length expected (u16): 0 for INFO, RESET, RESULTS and COUNTERS, 5 for READ, 5 + word_bytes for
WRITE; for EVENTS 1 when empty, and the length minus one when an address list ends in half an
address.

WRITE and READ check `space` (0..3) and `addr` (below that space's depth) and answer CAPACITY
with the limit (4 spaces, or the space's depth in words) rather than letting the engine alias the
address. WRITE and READ wait up to `busy_cycles` for the engine's configuration or read port,
which serve only between timesteps, then answer BUSY.
"""

from .access import AccessRequest
from .check import FrameCheck
from .error import ErrorReply
from .events import EventsUnpacker
from .processor import CommandProcessor
from .reply import ReplyBuffer
from .results import ResultPacker

__all__ = [
    "CommandProcessor",
    "FrameCheck",
    "AccessRequest",
    "EventsUnpacker",
    "ResultPacker",
    "ErrorReply",
    "ReplyBuffer",
]
