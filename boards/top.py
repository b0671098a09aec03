"""A board's top level: the SerialEngine behind the board's PLL and UART pins."""

from amaranth import ClockDomain, Elaboratable, Module, Signal
from amaranth.lib import io
from amaranth.lib.cdc import ResetSynchronizer

__all__ = ["BoardTop"]


class BoardTop(Elaboratable):
    """`hw.serial_engine.SerialEngine` clocked by the board's PLL (set by `pll`), held in reset
    until the PLL locks, its UART on the platform's `uart` resource. A board file says only how
    its PLL is made, in `clock`."""

    def __init__(self, board, pll):
        self.board, self.pll = board, pll

    def clock(self, m: Module, platform, clk: Signal, locked: Signal):
        """Add to `m` what drives `clk` at `self.pll.f_out_hz` and `locked` once it is stable."""
        raise NotImplementedError

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = sync = ClockDomain()
        locked = Signal()
        self.clock(m, platform, sync.clk, locked)
        platform.add_clock_constraint(sync.clk, self.pll.f_out_hz)
        m.submodules.reset = ResetSynchronizer(~locked, domain="sync")

        uart = platform.request("uart", 0, dir="-")
        m.submodules.rx = rx = io.Buffer("i", uart.rx)
        m.submodules.tx = tx = io.Buffer("o", uart.tx)
        m.submodules.board = board = self.board
        m.d.comb += [board.rx.eq(rx.i), tx.o.eq(board.tx)]
        return m
