"""The simulated board at the byte level: a link transport that runs the gateware.

`AmaranthTransport` lets the host's `Link`, and every host layer above it (`Device`), run
unchanged against the `hw.serial_engine.SerialEngine` top level in Amaranth's simulator: writes
queue bytes for the engine's input stream, and `read` simulates clock cycles until reply bytes
come out or the timeout (in simulated time) passes.
"""

import math
import random
from collections import deque

from amaranth.sim import Simulator
from spikeloom.hw.serial_engine import SerialEngine

__all__ = ["AmaranthTransport"]


class AmaranthTransport:
    """A link transport whose `read` runs the simulated byte-level `SerialEngine` until reply
    bytes come out or `timeout_s` of simulated time has passed, so `Link.request` (and any host
    code on top of it) runs unchanged against the gateware. Both byte streams stall at random
    with probability `stall`. `clock` is the simulated time, for `Link(clock=...)`."""

    CHUNK = 64  # cycles simulated between looks at the output

    def __init__(
        self,
        board: SerialEngine,
        rng: random.Random | None = None,
        stall: float = 0.0,
        watch=(),
        clock_hz: int = 1_000_000,
    ):
        self.board, self.rng, self.stall = board, rng or random.Random(0), stall
        self.period = 1 / clock_hz
        self.watch = [board.engine.i_events.ready, *watch]
        self.values = {}
        self.to_board: deque[int] = deque()
        self.from_board = bytearray()
        self.cycles = 0
        self.sim = Simulator(board)
        self.sim.add_clock(self.period)
        self.sim.add_testbench(self._feed, background=True)
        self.sim.add_testbench(self._take, background=True)

    def clock(self) -> float:
        return self.cycles * self.period

    def write(self, data: bytes):
        self.to_board.extend(data)

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        deadline = self.cycles + max(1, math.ceil(timeout_s / self.period))
        while not self.from_board and self.cycles < deadline:
            self.run(min(self.CHUNK, deadline - self.cycles))
        data = bytes(self.from_board[:max_bytes])
        del self.from_board[:max_bytes]
        return data

    def run(self, cycles: int):
        """Simulate `cycles` more clock cycles."""
        self.cycles += cycles
        self.sim.run_until(self.cycles * self.period)

    def value(self, signal):
        """`signal`'s value at the last clock edge; it must be one of `watch`."""
        return self.values[id(signal)]

    async def _feed(self, ctx):
        stream = self.board.i_bytes
        async for _clk, _rst, valid, ready in ctx.tick().sample(stream.valid, stream.ready):
            if valid and ready:
                self.to_board.popleft()
                valid = False
            # A byte once offered stays offered until taken (the stream rule).
            if not valid and self.to_board and self.rng.random() >= self.stall:
                ctx.set(stream.payload, self.to_board[0])
                valid = True
            ctx.set(stream.valid, valid)

    async def _take(self, ctx):
        stream = self.board.o_bytes
        async for _clk, _rst, valid, ready, payload in ctx.tick().sample(
            stream.valid, stream.ready, stream.payload
        ):
            if valid and ready:
                self.from_board.append(payload)
            for signal in self.watch:
                self.values[id(signal)] = ctx.get(signal)
            ctx.set(stream.ready, self.rng.random() >= self.stall)
