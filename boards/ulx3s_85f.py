"""ULX3S with a Lattice ECP5 LFE5U-85F: a 25 MHz oscillator and an FTDI FT231X UART.

The 85F has 83,640 LUT4s and 208 block RAMs (18 Kbit, up to 36 bits wide). The engine runs 128
lanes of binary weights, one 128-bit word per cycle from block RAM (4096 words hold 784-256-10,
1,824 words, twice over), 8 LIF units sweeping a group in 16 cycles, 24-bit membranes, 4 layers
of up to 512 neurons. 256 lanes would fit the FPGA (128 take 21% of its LUTs), but YoWASP's
Yosys, a 32-bit WebAssembly program, runs out of memory synthesising them.
"""

from functools import partial

from amaranth import Instance
from amaranth.lib import io
from amaranth_boards.ulx3s import ULX3S_85F_Platform
from spikeloom.hw.params import EngineParams

from .pll import ecp5_pll
from .spec import BoardSpec
from .top import BoardTop

__all__ = ["SPEC", "ULX3STop"]

CRYSTAL_HZ = 25e6

PARAMS = EngineParams(
    lanes=128,
    max_layers=4,
    max_inputs=1024,
    max_neurons=512,
    weight_words=4096,
    max_v_bits=24,
    max_weight_bits=1,
    max_timesteps=64,
    current_bits=12,
    sweep_lanes=8,
)


class ULX3STop(BoardTop):
    """The 25 MHz pin drives an `EHXPLLL` whose CLKOP, fed back, is the clock; the UART is on
    the FTDI."""

    def clock(self, m, platform, clk, locked):
        pll = self.pll
        m.submodules.clk25 = clk25 = io.Buffer("i", platform.request("clk25", dir="-"))
        m.submodules.pll = Instance(
            "EHXPLLL",
            p_PLLRST_ENA="DISABLED",
            p_INTFB_WAKE="DISABLED",
            p_STDBY_ENABLE="DISABLED",
            p_DPHASE_SOURCE="DISABLED",
            p_OUTDIVIDER_MUXA="DIVA",
            p_OUTDIVIDER_MUXB="DIVB",
            p_OUTDIVIDER_MUXC="DIVC",
            p_OUTDIVIDER_MUXD="DIVD",
            p_CLKI_DIV=pll.clki_div,
            p_CLKOP_ENABLE="ENABLED",
            p_CLKOP_DIV=pll.clkop_div,
            p_CLKOP_CPHASE=pll.clkop_cphase,
            p_CLKOP_FPHASE=0,
            p_FEEDBK_PATH="CLKOP",
            p_CLKFB_DIV=pll.clkfb_div,
            i_RST=0,
            i_STDBY=0,
            i_CLKI=clk25.i,
            o_CLKOP=clk,
            i_CLKFB=clk,
            i_PHASESEL0=0,
            i_PHASESEL1=0,
            i_PHASEDIR=1,
            i_PHASESTEP=1,
            i_PHASELOADREG=1,
            i_PLLWAKESYNC=0,
            i_ENCLKOP=0,
            o_LOCK=locked,
            a_FREQUENCY_PIN_CLKI=f"{pll.f_in_hz / 1e6:g}",
            a_FREQUENCY_PIN_CLKOP=f"{pll.f_out_hz / 1e6:g}",
        )


SPEC = BoardSpec(
    name="ulx3s-85f",
    title="ULX3S (ECP5 LFE5U-85F)",
    device="LFE5U-85F",
    family="ecp5",
    params=PARAMS,
    # Place and route reaches about 73 MHz (seed 1); the longest paths left are control: the
    # link's event unpacking into the engine, the emitter's lowest-lane search. 60 MHz is below
    # that and makes 3 Mbaud exactly (20 cycles a bit).
    clock_mhz=60.0,
    # Yosys 0.64's ABC9 flow fails an internal assertion on this design (`GetSize(conn.first)
    # == GetSize(conn.second)`, reading ABC's result back); the classic ABC flow maps it, at
    # about 15% more LUTs and a faster clock (docs/boards.md, "Tools").
    synth_opts="-noabc9",
    luts_total=83640,
    brams_total=208,
    spram_total=0,
    platform=ULX3S_85F_Platform,
    top=ULX3STop,
    pll=partial(ecp5_pll, CRYSTAL_HZ),
    flash_tool="openFPGALoader",
)
