"""iCEBreaker: a Lattice iCE40 UP5K-SG48, a 12 MHz oscillator and an FTDI FT2232H UART.

The UP5K has 5280 logic cells, 30 block RAMs (4 Kbit each, at most 16 bits wide) and four
256 Kbit single-port SPRAMs (16 bits wide). Logic cells, not memory bandwidth, bound the engine
here: the link, the per-layer counters and one LIF/LIFB unit take about 3,500 of them whatever
the lane count, and 32 lanes did not fit (6,410 cells with three layers and two units). So:
- 16 lanes of binary weights, one 16-bit word per cycle from one SPRAM (`SpramWeightMemory`);
  its 16,384 words hold 784-256-10 (12,800 words). SPRAM cannot be initialised by a bitstream,
  so Programs always load over the link here;
- one LIF/LIFB unit sweeping a 16-lane group in 16 cycles, so that the membrane (16 bits) and
  threshold/bias (32 bits) memories are one neuron wide;
- 16-bit membranes and 12-bit currents (784 binary inputs need 11), 2 layers of up to 256
  neurons, bursts of up to 2, 256 buffered output events.
"""

from functools import partial

from amaranth import C, Cat, ClockSignal, Const, Instance, Module, Signal
from amaranth.lib import wiring
from amaranth_boards.icebreaker import ICEBreakerPlatform
from spikeloom.hw.params import EngineParams
from spikeloom.hw.weights import WeightStoreSignature

from .pll import ice40_pll
from .spec import BoardSpec
from .top import BoardTop

__all__ = ["SPEC", "ICEBreakerTop", "SpramWeightMemory"]

CRYSTAL_HZ = 12e6

PARAMS = EngineParams(
    lanes=16,
    max_layers=2,
    max_inputs=1024,
    max_neurons=256,
    weight_words=16384,
    max_v_bits=16,
    max_weight_bits=1,
    max_timesteps=64,
    current_bits=12,
    sweep_lanes=1,
    max_burst=2,
)


class SpramWeightMemory(wiring.Component):
    """The engine's weight store in `SB_SPRAM256KA`s: 16K words of 16 bits each, side by side
    for a wider word. SPRAM has no initial contents, so nothing can be baked into it.

    Yosys infers SPRAM only for memories without initial contents, which an Amaranth `Memory`
    always has, so the primitives are instantiated here.
    """

    DEPTH, WIDTH = 16384, 16

    def __init__(self, width: int, depth: int, init=()):
        if depth > self.DEPTH:
            raise ValueError(f"SPRAM holds {self.DEPTH} words, not {depth}")
        if any(init):
            raise ValueError("SPRAM cannot be initialised by the bitstream")
        self.width, self.depth = width, depth
        super().__init__(WeightStoreSignature(width, depth))

    def elaborate(self, platform):
        m = Module()
        address = Cat(self.addr, C(0, 14 - len(self.addr)))
        for index in range(-(-self.width // self.WIDTH)):
            low = index * self.WIDTH
            data_in, data_out = Signal(self.WIDTH), Signal(self.WIDTH)
            width = min(self.WIDTH, self.width - low)
            m.d.comb += [
                data_in.eq(self.w_data[low : low + width]),
                self.r_data[low : low + width].eq(data_out),
            ]
            m.submodules[f"spram{index}"] = Instance(
                "SB_SPRAM256KA",
                i_ADDRESS=address,
                i_DATAIN=data_in,
                i_MASKWREN=C(0b1111, 4),
                i_WREN=self.w_en,
                i_CHIPSELECT=1,
                i_CLOCK=ClockSignal(),
                i_STANDBY=0,
                i_SLEEP=0,
                i_POWEROFF=1,  # active low: powered
                o_DATAOUT=data_out,
            )
        return m


class ICEBreakerTop(BoardTop):
    """The 12 MHz pin drives an `SB_PLL40_PAD` (pin 35 is the PLL's pad); the UART is on the
    FTDI's second channel."""

    def clock(self, m, platform, clk, locked):
        pll = self.pll
        m.submodules.pll = Instance(
            "SB_PLL40_PAD",
            p_FEEDBACK_PATH="SIMPLE",
            p_PLLOUT_SELECT="GENCLK",
            p_DIVR=Const(pll.divr, 4),
            p_DIVF=Const(pll.divf, 7),
            p_DIVQ=Const(pll.divq, 3),
            p_FILTER_RANGE=Const(pll.filter_range, 3),
            i_PACKAGEPIN=platform.request("clk12", dir="-").io,
            i_RESETB=1,
            i_BYPASS=0,
            o_PLLOUTGLOBAL=clk,
            o_LOCK=locked,
        )


SPEC = BoardSpec(
    name="icebreaker",
    title="iCEBreaker (iCE40 UP5K-SG48)",
    device="iCE40UP5K",
    family="ice40",
    params=PARAMS,
    # Place and route reaches 26.6 MHz here (seed 1); the longest paths are the LIF unit's
    # leak and the Deframer's parsing decisions, about ten LUTs deep. 24 MHz is below that and
    # makes 3 Mbaud exactly (8 cycles a bit).
    clock_mhz=24.0,
    luts_total=5280,
    brams_total=30,
    spram_total=4,
    platform=ICEBreakerPlatform,
    top=ICEBreakerTop,
    pll=partial(ice40_pll, CRYSTAL_HZ),
    flash_tool="iceprog",
    weight_memory=SpramWeightMemory,
    bakes_weights=False,
    fifo_depth=256,
)
