"""What a board build needs to know about one board: its engine size, clock and tools."""

from collections.abc import Callable
from dataclasses import dataclass

from spikeloom.hw.params import EngineParams

__all__ = ["BoardSpec"]


@dataclass(frozen=True)
class BoardSpec:
    """One supported board.

    `params` is the engine built for it (the host reads the same numbers back over INFO);
    `clock_mhz` the clock the PLL is asked for by default; `platform` makes the amaranth-boards
    platform and `top` wraps a `hw.serial_engine.SerialEngine` with the board's clock (PLL) and
    UART pins.
    """

    name: str
    title: str
    device: str
    family: str  # "ice40" or "ecp5": which tools and which report fields
    params: EngineParams
    clock_mhz: float
    luts_total: int
    brams_total: int
    spram_total: int
    platform: Callable
    pll: Callable  # (requested clock in Hz) -> the PLL setting nearest it (has .f_out_hz)
    top: Callable  # (hw.serial_engine.SerialEngine, PLL setting) -> the Elaboratable to build
    flash_tool: str
    max_baud: int = 3_000_000
    #: Makes the engine's weight store (`hw.weights`); None: block RAM.
    weight_memory: Callable | None = None
    #: Whether a bitstream can carry a Program's weights (SPRAM starts empty).
    bakes_weights: bool = True
    #: Output events the board buffers for the host (`hw.command.CommandProcessor`).
    fifo_depth: int = 512
    #: Extra options for the family's `synth_*` command (Yosys); empty: its defaults.
    synth_opts: str = ""
