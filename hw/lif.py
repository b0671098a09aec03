"""LIF/LIFB/readout state units: one neuron's membrane update, DESIGN.md section 2.

Combinational: the sweep registers inputs and outputs around `lanes` of these.
"""

from amaranth import Array, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .params import BURST_MAX

__all__ = ["NeuronConfig", "LifUnit"]


def NeuronConfig(v_bits: int) -> data.StructLayout:
    """A layer's neuron settings, as the sweep sees them (saturation bounds precomputed)."""
    return data.StructLayout(
        {
            "spiking": 1,
            "burst_max": 3,
            "leak": 1,
            "leak_shift": 5,
            "subtract": 1,
            "low": signed(v_bits),
            "high": signed(v_bits),
        }
    )


class LifUnit(wiring.Component):
    """h = sat(v - lam + z + beta); n = #{m <= M : h >= m * theta}; then reset (or readout).

    The multiples of theta come from shifts and adds, so the unit has no multiplier; the leak
    `lam = (v + 2^(k-1)) >> k` is an arithmetic shift that rounds to nearest, ties up. Only the
    multiples up to `max_burst` are built (a smaller engine may support shorter bursts).
    """

    def __init__(self, v_bits: int, current_bits: int, max_burst: int = BURST_MAX):
        self.v_bits, self.max_burst = v_bits, max_burst
        super().__init__(
            {
                "config": In(NeuronConfig(v_bits)),
                "v": In(signed(v_bits)),
                "z": In(signed(current_bits)),
                "theta": In(unsigned(v_bits)),
                "bias": In(signed(v_bits)),
                "v_next": Out(signed(v_bits)),
                "n": Out(3),
            }
        )

    def elaborate(self, platform):
        m = Module()
        cfg, v, vb = self.config, self.v, self.v_bits

        # For k >= v_bits, |v| < 2^(k-1) makes lam 0, so the shifter only needs k < v_bits.
        short = cfg.leak_shift < vb
        k = cfg.leak_shift[: max(vb - 1, 1).bit_length()]
        rounding = Array([0] + [1 << (j - 1) for j in range(1, vb)])[k]
        lam = Signal(signed(vb + 1))
        m.d.comb += lam.eq(Mux(cfg.leak & short, (v + rounding) >> k, 0))
        # v - lam spans 2^vb either way, z and bias add less than that again: 3 bits of room.
        total = Signal(signed(max(len(self.z), vb) + 3))
        m.d.comb += total.eq(v - lam + self.z + self.bias)
        h = Signal(signed(vb))
        with m.If(total < cfg.low):
            m.d.comb += h.eq(cfg.low)
        with m.Elif(total > cfg.high):
            m.d.comb += h.eq(cfg.high)
        with m.Else():
            m.d.comb += h.eq(total)

        theta = self.theta
        multiples = [
            0,
            theta,
            theta << 1,
            (theta << 1) + theta,
            theta << 2,
            (theta << 2) + theta,
            (theta << 2) + (theta << 1),
            (theta << 3) - theta,
        ][: self.max_burst + 1]
        n = 0
        for count in range(1, self.max_burst + 1):
            n = n + ((count <= cfg.burst_max) & (h >= multiples[count]))
        m.d.comb += self.n.eq(Mux(cfg.spiking, n, 0))

        with m.If(~cfg.spiking):
            m.d.comb += self.v_next.eq(h)
        with m.Elif(cfg.subtract):
            # n * theta <= h, so h - n * theta stays within 0..h: no saturation needed.
            m.d.comb += self.v_next.eq(h - Array(multiples)[self.n])
        with m.Else():
            m.d.comb += self.v_next.eq(Mux(self.n != 0, 0, h))
        return m
