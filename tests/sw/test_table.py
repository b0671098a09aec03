"""How reports write numbers: one helper, one style per unit."""

import numpy as np
import pytest
from spikeloom.sw.reports.table import Number, format_table, markdown_table, number


@pytest.mark.parametrize(
    "value, unit, text",
    [
        (3463, "cycles", "3,463"),  # counted: an integer whole
        (np.int64(15787), "cycles", "15,787"),
        (3463.25, "cycles", "3,463.2"),  # a mean: one decimal
        (3463.0, "cycles", "3,463.0"),
        (144.2917, "us", "144.29"),
        (1234.56, "nJ", "1,234.6"),
        (0.9, "pJ", "0.9"),
        (24.0, "MHz", "24.00"),
        (0.95312, "%", "95.3%"),
        (1.0, "%", "100.0%"),
        (0.912345, "accuracy", "0.9123"),
        (1797, "count", "1,797"),
        (12.375, "bytes", "12.4"),
        (None, "nJ", "-"),
    ],
)
def test_number(value, unit, text):
    assert number(value, unit) == text


def test_number_with_its_unit():
    assert number(268.5, "us", suffix=True) == "268.50 us"
    assert number(24, "MHz", suffix=True) == "24.00 MHz"
    assert number(0.5, "%", suffix=True) == "50.0%"  # no unit to add
    assert number(3463, "cycles", suffix=True) == "3,463"  # the label says cycles
    with pytest.raises(ValueError, match="unknown unit 'furlongs'"):
        number(1, "furlongs")


def test_numbers_are_right_aligned():
    rows = [["a", number(5.0, "nJ")], ["bb", number(1234.5, "nJ")], ["c", number(None, "nJ")]]
    text = format_table(["part", "energy"], rows)
    assert text.splitlines()[2:] == ["a         5.0", "bb    1,234.5", "c           -"]
    assert isinstance(number(1, "count"), Number)
    assert markdown_table(["part", "energy"], rows).splitlines()[3] == "| bb | 1,234.5 |"
