"""The engine's weight store: one address for reads and writes, the word a cycle later.

One shared address is what an iCE40 UP5K's SPRAM offers (`boards.icebreaker` puts four of them
side by side behind this same signature); the engine only writes while it is not reading, so a
single port costs it nothing. `WeightMemory` is the portable one, an `amaranth.lib.memory`.
"""

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .ram import ram

__all__ = ["WeightStoreSignature", "WeightMemory"]


def WeightStoreSignature(width: int, depth: int) -> wiring.Signature:
    """`r_data` holds the word at the `addr` of the previous cycle; `w_en` writes `w_data`
    there (what `r_data` shows in that cycle's wake is not used)."""
    return wiring.Signature(
        {
            "addr": In(range(depth)),
            "w_data": In(width),
            "w_en": In(1),
            "r_data": Out(width),
        }
    )


class WeightMemory(wiring.Component):
    """A weight store in block RAM (or flip-flops), initialised with `init` (a baked Program)."""

    def __init__(self, width: int, depth: int, init=()):
        self.width, self.depth, self.init = width, depth, list(init)
        super().__init__(WeightStoreSignature(width, depth))

    def elaborate(self, platform):
        m = Module()
        # A write's read-back in the same cycle is never used (see the signature).
        m.submodules.memory = memory = ram(shape=self.width, depth=self.depth, init=self.init)
        write, read = memory.write_port(), memory.read_port()
        m.d.comb += [
            write.addr.eq(self.addr),
            write.data.eq(self.w_data),
            write.en.eq(self.w_en),
            read.addr.eq(self.addr),
            self.r_data.eq(read.data),
        ]
        return m
