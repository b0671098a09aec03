"""The host runtime: load a Program onto a board and stream samples through it, over any link.

`Device` speaks the protocol of `hw/protocol.py` through a `sw.runtime.link.Link`, so the same code
drives a real board on a serial port and the simulated board. Nothing is lost on failure: a run
that breaks off for any reason (the board stops answering, the serial port goes away, the
simulator ends, Ctrl-C) raises `RunError` carrying the results of every sample that completed.
"""

from dataclasses import dataclass, fields

import numpy as np
from spikeloom.hw import layout
from spikeloom.hw.params import EngineParams
from spikeloom.hw.protocol import (
    PROTOCOL_VERSION,
    Command,
    ErrorCode,
    counters_bytes,
    event_bytes,
    word_bytes,
)
from spikeloom.sw.compiler.program import Program, check_spikes
from spikeloom.sw.errors import ProgramError, RunError, SpikeloomError
from spikeloom.sw.result import Result
from spikeloom.sw.runtime.codec import (
    BoardError,
    LinkError,
    LinkLost,
    pack_events,
    pack_read,
    pack_write,
    unpack_word,
)
from spikeloom.sw.runtime.engine_stream import COUNTERS, OutputDecoder, program_images
from spikeloom.sw.runtime.link import Link
from tqdm import tqdm

__all__ = ["BoardInfo", "Device"]


@dataclass(frozen=True)
class BoardInfo:
    version: int
    params: EngineParams
    clock_hz: int


def _one_line(text: str) -> str:
    """`text` on one line: a simulator's message may end in lines of its error output."""
    return " ".join(text.split())


def _u32s(payload: bytes, count: int, what: str) -> list[int]:
    if len(payload) != 4 * count:
        raise LinkError(f"{what} reply has {len(payload)} bytes, expected {4 * count}")
    return [int.from_bytes(payload[4 * i : 4 * i + 4], "little") for i in range(count)]


class Device:
    """A board behind `link`. Call `info()` once (it learns the engine's size), then `load`."""

    def __init__(self, link: Link, timeout_s: float = 1.0, baud: int | None = None):
        """`baud`: the line's rate, recorded in results so that reports can time the link."""
        self.link, self.timeout_s, self.baud = link, timeout_s, baud
        self._info: BoardInfo | None = None
        self.readout_only = False

    def request(self, command: int, payload: bytes = b"") -> bytes:
        return self.link.request(command, payload, timeout_s=self.timeout_s)

    def info(self) -> BoardInfo:
        if self._info is None:
            names = [f.name for f in fields(EngineParams)]
            payload = self.request(Command.INFO)
            if not payload or payload[0] != PROTOCOL_VERSION:
                version = payload[0] if payload else None
                raise LinkError(
                    f"board speaks protocol version {version}, this host {PROTOCOL_VERSION}"
                )
            values = _u32s(payload[1:], len(names) + 1, "INFO")
            sizes = dict(zip(names, values[:-1], strict=True))
            # 0 stands for "all lanes" (None) on the wire.
            sizes["sweep_lanes"] = sizes["sweep_lanes"] or None
            params = EngineParams(**sizes)
            self._info = BoardInfo(payload[0], params, values[-1])
        return self._info

    @property
    def params(self) -> EngineParams:
        return self.info().params

    def load(
        self,
        program: Program,
        verify: bool = True,
        readout_only: bool = False,
        progress: bool = False,
    ) -> None:
        """Write `program` into the engine's memories; read every word back when `verify`.

        `readout_only` keeps hidden layers' spikes on the board: a run then returns the last
        layer only, and the link carries far fewer bytes per inference. `progress` shows a bar
        over the words written (and read back), since a large Program takes many seconds at
        115200 baud. A transport lost meanwhile raises `LinkLost` naming the cause and how far
        the load got.
        """
        params = self.params
        width = word_bytes(params)
        # raises ProgramError when the Program does not fit
        images = program_images(program, params, readout_only)
        self.readout_only = readout_only
        words = [(space, addr, word) for space, items in images.items() for addr, word in items]
        steps = len(words) * (2 if verify else 1)
        done = 0
        with tqdm(total=steps, desc="load", unit="word", disable=not progress) as bar:
            try:
                for space, addr, word in words:
                    self.request(Command.WRITE, pack_write(space, addr, word, width))
                    done += 1
                    bar.update()
                for space, addr, word in words if verify else ():
                    got = unpack_word(self.request(Command.READ, pack_read(space, addr)), width)
                    if got != word:
                        raise ProgramError(
                            f"read-back of space {space}, address {addr} gave {got:#x}, "
                            f"wrote {word:#x}: the board did not store the Program"
                        )
                    done += 1
                    bar.update()
            except LinkLost as error:
                raise LinkLost(
                    _one_line(f"{error}; the load stopped after {done} of {steps} word transfers")
                ) from None

    def counters(self) -> tuple[int, dict[str, list[int]]]:
        """The engine's counters: cycles, and each of COUNTERS per layer."""
        payload = self.request(Command.COUNTERS)
        if len(payload) != counters_bytes(self.params):
            raise LinkError(
                f"COUNTERS reply of {len(payload)} bytes, expected {counters_bytes(self.params)}"
            )
        values = layout.unpack_counters(self.params, int.from_bytes(payload, "little"))
        return values["cycles"], {name: values[name] for name in COUNTERS}

    def run(self, program: Program, spikes, progress: bool = False) -> Result:
        """Stream `spikes` `[samples, T, inputs]` through the loaded `program`.

        If the run breaks off, whatever the cause (the board stops answering, the transport is
        lost, Ctrl-C), it raises `RunError` holding the samples that completed.
        """
        spikes = check_spikes(program, spikes)
        params = self.params
        event_size = event_bytes(params)
        decoder = OutputDecoder(program, params, self.readout_only)
        # Per completed sample: cycles, counters per layer, link bytes (sent, received), seconds.
        done: list[tuple[int, dict, tuple[int, int], float]] = []

        def collect() -> bool:
            """Feed one RESULTS reply to the decoder; True when it ended the sample."""
            payload = self.request(Command.RESULTS)
            if len(payload) % event_size:
                raise LinkError(
                    f"RESULTS reply of {len(payload)} bytes is not whole events of "
                    f"{event_size} bytes"
                )
            ended = False
            for start in range(0, len(payload), event_size):
                word = int.from_bytes(payload[start : start + event_size], "little")
                ended = decoder.feed(word) or ended
            return ended

        def stopped(cause: str, interrupted: bool = False) -> RunError:
            del decoder.samples[len(done) :]  # a sample counts once its counters are in
            result = self._result(decoder, done)
            result.requested = len(spikes)
            return RunError(_one_line(cause), result, interrupted)

        try:
            with tqdm(total=len(spikes), desc="board", unit="sample", disable=not progress) as bar:
                self.request(Command.RESET)
                for sample in spikes:
                    sent, received = self.link.bytes_sent, self.link.bytes_received
                    started = self.link.clock()
                    ended = False
                    for step in sample:
                        while True:
                            try:
                                self.request(Command.EVENTS, pack_events(step))
                                break
                            except BoardError as error:
                                # The engine waits on a full result buffer: drain it, send again.
                                if error.code != ErrorCode.BUSY:
                                    raise
                                ended = collect() or ended
                    while not ended:
                        ended = collect()
                    cycles, per_layer = self.counters()
                    link_bytes = (
                        self.link.bytes_sent - sent,
                        self.link.bytes_received - received,
                    )
                    # One append records the whole sample, so that an interrupt cannot leave it
                    # half recorded.
                    done.append((cycles, per_layer, link_bytes, self.link.clock() - started))
                    bar.update()
        except KeyboardInterrupt:
            raise stopped("interrupted", interrupted=True) from None
        except SpikeloomError as error:  # the link's errors, a lost transport among them
            raise stopped(str(error)) from None
        except Exception as error:
            # A failure nobody foresaw (a transport's own error, a bug): the samples are kept
            # all the same, and the error stays attached as the cause, with its traceback.
            raise stopped(f"{type(error).__name__}: {error}") from error
        return self._result(decoder, done)

    def _result(self, decoder, done) -> Result:
        cycles = [sample[0] for sample in done]
        counters = {name: [sample[1][name] for sample in done] for name in COUNTERS}
        result = decoder.result(cycles, counters)
        result.clock_hz, result.baud = self.info().clock_hz, self.baud
        link_bytes = [sample[2] for sample in done]
        result.link_bytes = np.asarray(link_bytes, np.int64).reshape(len(done), 2)
        result.seconds = np.asarray([sample[3] for sample in done], np.float64)
        return result
