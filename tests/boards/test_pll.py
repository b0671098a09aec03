"""PLL settings: the known icepll/ecppll answers, and every setting inside the chips' limits."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from spikeloom.boards.pll import PllError, ecp5_pll, ice40_pll


def test_icepll_answers():
    # What `icepll -i 12 -o 48` and `-o 30` print.
    p = ice40_pll(12e6, 48e6)
    assert (p.divr, p.divf, p.divq, p.filter_range, p.f_out_hz) == (0, 63, 4, 1, 48e6)
    p = ice40_pll(12e6, 30e6)
    assert (p.divr, p.divf, p.divq, p.f_out_hz) == (0, 79, 5, 30e6)


@given(st.floats(16e6, 275e6))
def test_ice40_settings_respect_the_limits(f_out):
    p = ice40_pll(12e6, f_out)
    f_pfd = 12e6 / (p.divr + 1)
    assert 10e6 <= f_pfd <= 133e6
    assert 533e6 <= f_pfd * (p.divf + 1) <= 1066e6
    assert 1 <= p.divq <= 6 and 16e6 <= p.f_out_hz <= 275e6
    # The 12 MHz crystal reaches any target within one VCO step over 2**DIVQ.
    assert abs(p.f_out_hz - f_out) <= 12e6 / 2


@given(st.floats(50e6, 400e6))
def test_ecp5_settings_respect_the_limits(f_out):
    p = ecp5_pll(25e6, f_out)
    assert 3.125e6 <= 25e6 / p.clki_div
    assert 400e6 <= p.f_out_hz * p.clkop_div <= 800e6
    assert p.clkop_cphase == p.clkop_div - 1
    # 25 MHz / CLKI_DIV * CLKFB_DIV (PFD >= 3.125 MHz) leaves gaps of a few percent.
    assert abs(p.f_out_hz - f_out) / f_out < 0.035


def test_exact_ecp5_clocks():
    assert ecp5_pll(25e6, 100e6).f_out_hz == 100e6
    assert ecp5_pll(25e6, 50e6).f_out_hz == 50e6


@pytest.mark.parametrize("make, f_out", [(ice40_pll, 300e6), (ice40_pll, 5e6), (ecp5_pll, 1e6)])
def test_out_of_range_is_a_clear_error(make, f_out):
    with pytest.raises(PllError, match="outside"):
        make(12e6, f_out)
