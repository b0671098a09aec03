"""The link: numbered requests to a board and their replies, with retries, over any transport
(docs/link.md). The frames and payloads themselves are `sw.runtime.codec`'s.

A transport is any object with `write(data: bytes)` and `read(max_bytes, timeout_s) -> bytes`;
`read` returns as soon as some bytes are there (at most `max_bytes`), or `b""` when none came
within `timeout_s`. A serial port, the simulated board and a test double all fit. A transport
that fails raises `LinkLost` naming the cause, or an `OSError` or `EOFError`, which the link
turns into a `LinkLost`: every failure of the link is then a `LinkError`.
"""

import time
from collections.abc import Callable

from spikeloom.hw.protocol import REPLY, Command, ErrorCode
from spikeloom.sw.runtime.codec import (
    MAX_FRAME,
    OVERLONG_FRAME_ERROR,
    BoardError,
    Frame,
    FrameDecoder,
    LinkLost,
    LinkTimeout,
    SequenceError,
    command_name,
    encode_frame,
)

__all__ = ["Link"]


class Link:
    """Numbered requests and their replies over `transport`, with retries.

    A retry resends the same frame, seq included, so the board answers it without acting twice.
    `bytes_sent` and `bytes_received` count every byte written and read.
    """

    def __init__(self, transport, *, clock: Callable[[], float] = time.monotonic):
        self.transport = transport
        self.clock = clock
        self.decoder = FrameDecoder()
        self.next_seq = 0
        self.bytes_sent = 0
        self.bytes_received = 0
        self.requests = 0
        self.retries = 0
        self.stale_replies = 0
        self.bad_frames = 0

    def _send(self, frame: bytes):
        try:
            self.transport.write(frame)
        except (OSError, EOFError) as error:
            raise self._lost(error) from None
        self.bytes_sent += len(frame)

    def _read(self, timeout_s: float) -> bytes:
        try:
            return self.transport.read(MAX_FRAME, timeout_s)
        except (OSError, EOFError) as error:
            raise self._lost(error) from None

    def _lost(self, error: BaseException) -> LinkLost:
        cause = str(error) or type(error).__name__
        return LinkLost(f"the link's transport ({type(self.transport).__name__}) failed: {cause}")

    def request(
        self, command: int, payload: bytes = b"", timeout_s: float = 1.0, retries: int = 3
    ) -> bytes:
        """Send `command` with `payload` and return the board's reply payload.

        Resends (same seq) when the reply is garbled, the board saw our frame garbled, or nothing
        came within `timeout_s`; raises BoardError on an ERROR reply, LinkTimeout once `retries`
        resends are spent and LinkLost when the transport fails. Replies with another seq
        (stale) are ignored. A SEQUENCE error (the board counts from elsewhere: a host restart,
        or a request lost for good) did nothing on the board, so the request goes again once
        with the seq it expects.
        """
        if command & REPLY:
            raise ValueError(f"command 0x{command:02x} has the REPLY bit set; it is not a request")
        if retries < 0:
            raise ValueError(f"retries {retries} is negative")
        try:
            return self._exchange(command, payload, timeout_s, retries)
        except SequenceError as error:
            self.next_seq = error.expected
            return self._exchange(command, payload, timeout_s, retries)

    def _exchange(self, command: int, payload: bytes, timeout_s: float, retries: int) -> bytes:
        seq = self.next_seq
        frame = encode_frame(seq, command, payload)
        self.next_seq = (seq + 1) & 0xFF
        self.requests += 1
        start = self.clock()
        last_problem = "no reply"
        for attempt in range(retries + 1):
            if attempt:
                self.retries += 1
            self._send(frame)
            outcome = self._await_reply(seq, command, timeout_s)
            if isinstance(outcome, bytes):
                return outcome
            last_problem = outcome
        raise LinkTimeout(
            self.clock() - start,
            detail=f"{command_name(command)} seq {seq}: {retries + 1} attempts, last: "
            + last_problem,
        )

    def _await_reply(self, seq: int, command: int, timeout_s: float) -> bytes | str:
        """The reply payload, or why this attempt failed (then the caller resends)."""
        deadline = self.clock() + timeout_s
        wanted = (command | REPLY, Command.ERROR | REPLY)
        while True:
            remaining = deadline - self.clock()
            data = self._read(remaining) if remaining > 0 else b""
            if not data:
                # Nothing more is coming: a half-received frame never will be complete.
                events = self.decoder.resync()
                problem = "no reply"
            else:
                self.bytes_received += len(data)
                events = self.decoder.feed(data)
                problem = None
            for event in events:
                if isinstance(event, Frame):
                    if event.seq != seq or event.command not in wanted:
                        self.stale_replies += 1
                    elif event.command == command | REPLY:
                        return event.payload
                    elif event.payload[:1] == bytes((ErrorCode.BAD_CRC,)) or (
                        event.payload == OVERLONG_FRAME_ERROR
                    ):
                        # A bad CRC, or a length over the board's maximum, which this host never
                        # sends: the line garbled our frame.
                        problem = "the board received our frame garbled"
                    else:
                        raise BoardError.from_payload(event.payload, command=command, seq=seq)
                else:
                    self.bad_frames += 1
                    # Only a header that looks like our reply means our reply was garbled; other
                    # bad frames are SYNC bytes in garbage, which the hunt already skipped.
                    if event.seq == seq and event.command in wanted:
                        problem = "garbled reply"
            if problem is not None:
                return problem
