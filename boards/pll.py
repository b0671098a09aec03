"""PLL settings for the boards' clocks, computed the way `icepll` and `ecppll` do.

Pure arithmetic, no Amaranth: the build asks for a clock, gets the nearest one the PLL can make,
and every report (and the UART divisor) uses that achieved frequency, never the request.
"""

from dataclasses import dataclass

__all__ = ["Ice40Pll", "Ecp5Pll", "ice40_pll", "ecp5_pll", "PllError"]


class PllError(ValueError):
    pass


@dataclass(frozen=True)
class Ice40Pll:
    """`SB_PLL40_*` in SIMPLE feedback: f_out = f_in * (DIVF + 1) / ((DIVR + 1) * 2**DIVQ)."""

    f_in_hz: float
    divr: int
    divf: int
    divq: int
    filter_range: int

    @property
    def f_out_hz(self) -> float:
        return self.f_in_hz * (self.divf + 1) / ((self.divr + 1) * 2**self.divq)


@dataclass(frozen=True)
class Ecp5Pll:
    """`EHXPLLL` with CLKOP fed back: f_out = f_in * CLKFB_DIV / CLKI_DIV and the VCO runs at
    f_out * CLKOP_DIV."""

    f_in_hz: float
    clki_div: int
    clkfb_div: int
    clkop_div: int

    @property
    def f_out_hz(self) -> float:
        return self.f_in_hz * self.clkfb_div / self.clki_div

    @property
    def clkop_cphase(self) -> int:
        """Coarse phase for a 0-degree CLKOP (what ecppll writes)."""
        return self.clkop_div - 1


def _ice40_filter_range(f_pfd_mhz: float) -> int:
    # The loop filter setting for the phase detector's frequency, as icepll chooses it.
    for limit, value in ((17, 1), (26, 2), (44, 3), (66, 4), (101, 5)):
        if f_pfd_mhz < limit:
            return value
    return 6


def ice40_pll(f_in_hz: float, f_out_hz: float) -> Ice40Pll:
    """The SIMPLE-feedback setting closest to `f_out_hz` (ties: the lower VCO) within the iCE40
    limits: 10..133 MHz at the phase detector, 533..1066 MHz VCO, 16..275 MHz out."""
    if not 16e6 <= f_out_hz <= 275e6:
        raise PllError(f"iCE40 PLL output {f_out_hz / 1e6:g} MHz is outside 16..275 MHz")
    best = None
    f_in = f_in_hz / 1e6
    for divr in range(16):
        f_pfd = f_in / (divr + 1)
        if not 10 <= f_pfd <= 133:
            continue
        for divf in range(128):
            f_vco = f_pfd * (divf + 1)
            if not 533 <= f_vco <= 1066:
                continue
            for divq in range(1, 7):
                f_out = f_vco / 2**divq
                if not 16 <= f_out <= 275:
                    continue
                key = (abs(f_out * 1e6 - f_out_hz), f_vco)
                if best is None or key < best[0]:
                    best = (key, Ice40Pll(f_in_hz, divr, divf, divq, _ice40_filter_range(f_pfd)))
    if best is None:
        raise PllError(f"no iCE40 PLL setting makes {f_out_hz / 1e6:g} MHz from {f_in:g} MHz")
    return best[1]


def ecp5_pll(f_in_hz: float, f_out_hz: float) -> Ecp5Pll:
    """The EHXPLLL setting closest to `f_out_hz` (ties: the higher VCO, less jitter) within the
    ECP5 limits: 3.125..400 MHz at the phase detector, 400..800 MHz VCO, up to 400 MHz out."""
    if not 3.125e6 <= f_out_hz <= 400e6:
        raise PllError(f"ECP5 PLL output {f_out_hz / 1e6:g} MHz is outside 3.125..400 MHz")
    best = None
    f_in = f_in_hz / 1e6
    for clki_div in range(1, 129):
        f_pfd = f_in / clki_div
        if not 3.125 <= f_pfd <= 400:
            continue
        for clkfb_div in range(1, 81):
            f_out = f_pfd * clkfb_div
            for clkop_div in range(1, 129):
                f_vco = f_out * clkop_div
                if not 400 <= f_vco <= 800:
                    continue
                key = (abs(f_out * 1e6 - f_out_hz), -f_vco)
                if best is None or key < best[0]:
                    best = (key, Ecp5Pll(f_in_hz, clki_div, clkfb_div, clkop_div))
    if best is None:
        raise PllError(f"no ECP5 PLL setting makes {f_out_hz / 1e6:g} MHz from {f_in:g} MHz")
    return best[1]
