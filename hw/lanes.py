"""The accumulate lanes: `lanes` current registers that only ever add a decoded weight."""

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["AccumulateLanes"]


class AccumulateLanes(wiring.Component):
    """`currents[k] += w[k]` for every lane k when `add` is high; `clear` zeroes them all.

    `word` holds one `max_weight_bits` slot per lane. With `weight_bits == 1` a slot's bit 0
    means +1 (set) or -1 (clear); otherwise the low `weight_bits` bits are two's complement.
    There is no multiplier anywhere: a burst of c spikes arrives as c separate adds.
    """

    def __init__(self, lanes: int, max_weight_bits: int, current_bits: int):
        self.lanes, self.max_weight_bits, self.current_bits = lanes, max_weight_bits, current_bits
        super().__init__(
            {
                "word": In(lanes * max_weight_bits),
                "weight_bits": In(4),
                "add": In(1),
                "clear": In(1),
                "currents": Out(data.ArrayLayout(signed(current_bits), lanes)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        wmax = self.max_weight_bits
        for k in range(self.lanes):
            slot = self.word[k * wmax : (k + 1) * wmax]
            weight = Signal(signed(wmax + 1), name=f"weight_{k}")
            with m.Switch(self.weight_bits):
                for bits in range(2, wmax + 1):
                    with m.Case(bits):
                        m.d.comb += weight.eq(slot[:bits].as_signed())
                with m.Default():  # binary
                    m.d.comb += weight.eq(Mux(slot[0], 1, -1))
            current = self.currents[k]
            with m.If(self.clear):
                m.d.sync += current.eq(0)
            with m.Elif(self.add):
                m.d.sync += current.eq(current + weight)
        return m
