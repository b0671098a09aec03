"""LIF/LIFB/readout state units: one neuron's membrane update, docs/semantics.md.

A unit is a pipeline of `LifUnit.LATENCY` register stages (inputs; leak; sum; saturation; burst
comparisons; burst count), one carry chain or so each, so that an FPGA clock is set by one adder,
not by the whole update: inputs presented in cycle c give `v_next` and `n` in cycle
c + LATENCY. A new neuron may enter every cycle. `config` is read at several stages, so it must
stay still while neurons are in flight (the engine changes it only between layers).
"""

from amaranth import Array, Cat, Module, Mux, Signal, signed, unsigned
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

    #: Cycles from inputs to outputs.
    LATENCY = 6

    def elaborate(self, platform):
        m = Module()
        cfg, vb, mb = self.config, self.v_bits, self.max_burst
        z_bits = max(len(self.z), vb) + 1

        # Stage 0: the inputs, registered. They come from block RAM and the lanes' multiplexer;
        # the leak's adder and shifter would otherwise follow those in the same cycle.
        v0, zb0 = Signal(signed(vb)), Signal(signed(z_bits))
        theta0 = Signal(unsigned(vb))
        m.d.sync += [v0.eq(self.v), zb0.eq(self.z + self.bias), theta0.eq(self.theta)]

        # Stage 1: the leak. For k >= v_bits, |v| < 2^(k-1) makes lam 0, so the shifter only
        # needs k < v_bits.
        short = cfg.leak_shift < vb
        k = cfg.leak_shift[: max(vb - 1, 1).bit_length()]
        rounding = Array([0] + [1 << (j - 1) for j in range(1, vb)])[k]
        v1, lam1 = Signal(signed(vb)), Signal(signed(vb + 1))
        zb1, theta1 = Signal(signed(z_bits)), Signal(unsigned(vb))
        m.d.sync += [
            v1.eq(v0),
            lam1.eq(Mux(cfg.leak & short, (v0 + rounding) >> k, 0)),
            zb1.eq(zb0),
            theta1.eq(theta0),
        ]

        # Stage 2: the sum, and the multiples of theta the bursts compare against (shifts and
        # adds, no multiplier). v - lam spans 2^vb either way, z + bias less than that again.
        total2 = Signal(signed(z_bits + 2))
        theta = theta1
        products = [
            0,
            theta,
            theta << 1,
            (theta << 1) + theta,
            theta << 2,
            (theta << 2) + theta,
            (theta << 2) + (theta << 1),
            (theta << 3) - theta,
        ][: mb + 1]
        multiples2 = [Signal(unsigned(vb + 3), name=f"multiple2_{i}") for i in range(mb + 1)]
        m.d.sync += total2.eq(v1 - lam1 + zb1)
        m.d.sync += [reg.eq(value) for reg, value in zip(multiples2, products, strict=True)]

        # Stage 3: saturation.
        h3 = Signal(signed(vb))
        multiples3 = [Signal.like(reg, name=f"multiple3_{i}") for i, reg in enumerate(multiples2)]
        with m.If(total2 < cfg.low):
            m.d.sync += h3.eq(cfg.low)
        with m.Elif(total2 > cfg.high):
            m.d.sync += h3.eq(cfg.high)
        with m.Else():
            m.d.sync += h3.eq(total2)
        m.d.sync += [b.eq(a) for a, b in zip(multiples2, multiples3, strict=True)]

        # Stage 4: the comparisons of h with the multiples of theta up to burst_max.
        h4 = Signal(signed(vb))
        reached4 = Signal(mb)  # bit c-1: h >= c * theta, and c <= burst_max
        multiples4 = [Signal.like(reg, name=f"multiple4_{i}") for i, reg in enumerate(multiples3)]
        m.d.sync += [
            h4.eq(h3),
            reached4.eq(
                Cat(
                    (count <= cfg.burst_max) & (h3 >= multiples3[count])
                    for count in range(1, mb + 1)
                )
            ),
        ]
        m.d.sync += [b.eq(a) for a, b in zip(multiples3, multiples4, strict=True)]

        # Stage 5: the burst count n = #{c <= M : h >= c * theta} (the comparisons hold for
        # every c up to n, as the multiples grow), and the amount a subtract reset takes away.
        h5, n5 = Signal(signed(vb)), Signal(3)
        taken5 = Signal(unsigned(vb + 3))
        n = 0
        for count in range(mb):
            n = n + reached4[count]
        count4 = Signal(3)
        m.d.comb += count4.eq(Mux(cfg.spiking, n, 0))
        m.d.sync += [h5.eq(h4), n5.eq(count4), taken5.eq(Array(multiples4)[count4])]

        # Outputs: the reset.
        m.d.comb += self.n.eq(n5)
        with m.If(~cfg.spiking):
            m.d.comb += self.v_next.eq(h5)
        with m.Elif(cfg.subtract):
            # n * theta <= h, so h - n * theta stays within 0..h: no saturation needed.
            m.d.comb += self.v_next.eq(h5 - taken5)
        with m.Else():
            m.d.comb += self.v_next.eq(Mux(n5 != 0, 0, h5))
        return m
