"""Memories whose reads never depend on a write to the same word in the same cycle.

An `amaranth.lib.memory.Memory` read port that is not transparent to a write port promises the
old word when both use one address in the same cycle. iCE40 block RAMs leave that case undefined,
so Yosys keeps the promise with logic: an address comparator behind the read address and a
bypass multiplexer after the data, on paths that limit the clock. Every memory made here is used
so that such a read is never looked at (each use says why), and `no_rw_check` tells Yosys so.
Simulators still return the old word.
"""

from amaranth.lib.memory import Memory

__all__ = ["ram"]


def ram(*, shape, depth: int, init=()) -> Memory:
    return Memory(shape=shape, depth=depth, init=list(init), attrs={"no_rw_check": 1})
