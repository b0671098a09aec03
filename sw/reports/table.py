"""Tables for reports: plain text for terminals, Markdown for files, and the one way numbers
are written in them (`number`)."""

from numbers import Integral, Real

__all__ = ["UNITS", "Number", "number", "format_table", "markdown_table"]

#: Decimals of each unit `number` knows. Counted units ("cycles", "count", "bytes") write an
#: integer whole and a float, which is a mean over samples, with their decimals.
UNITS = {
    "cycles": 1,
    "count": 1,
    "bytes": 1,
    "us": 2,
    "s": 1,
    "MHz": 2,
    "nJ": 1,
    "pJ": 1,
    "%": 1,  # a ratio, written as a percentage
    "accuracy": 4,  # a fraction of samples, written as one
}
_COUNTED = ("cycles", "count", "bytes")
#: Units whose name follows the number when it is asked for (the others are no physical unit).
_SUFFIXED = ("us", "s", "MHz", "nJ", "pJ", "bytes")


class Number(str):
    """A number as `number` wrote it: right-aligned in a table's column."""


def number(value, unit: str, *, suffix: bool = False) -> Number:
    """`value` written for `unit` (see `UNITS`), with thousands separators; None is "-".

    `suffix` appends the unit where it is a physical one ("24.00 MHz", "1,234.5 nJ")."""
    if unit not in UNITS:
        raise ValueError(f"unknown unit {unit!r}; known: {', '.join(UNITS)}")
    if value is None:
        return Number("-")
    if unit == "%":
        return Number(f"{value * 100:,.{UNITS[unit]}f}%")
    if unit in _COUNTED and isinstance(value, Integral):
        text = f"{int(value):,}"
    else:
        text = f"{float(value):,.{UNITS[unit]}f}"
    return Number(f"{text} {unit}" if suffix and unit in _SUFFIXED else text)


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        # Values not written by `number` (tables of other modules): accuracies and ratios get
        # four decimals, larger quantities need no more than one.
        return f"{value:.4f}" if abs(value) < 10 else f"{value:,.1f}"
    return str(value)


def _numeric(value) -> bool:
    return isinstance(value, Number) or (isinstance(value, Real) and not isinstance(value, bool))


def format_table(headers: list[str], rows: list[list], title: str | None = None) -> str:
    """Left-aligned text columns, numbers right-aligned, with a rule under the headers."""
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(headers)]
    numeric = [
        all(_numeric(row[i]) or row[i] is None for row in rows) and rows
        for i in range(len(headers))
    ]

    def line(values):
        return "  ".join(
            v.rjust(w) if numeric[i] else v.ljust(w) for i, (v, w) in enumerate(zip(values, widths))
        ).rstrip()

    out = [title] if title else []
    out += [line(headers), line(["-" * w for w in widths])]
    out += [line(row) for row in cells]
    return "\n".join(out)


def markdown_table(headers: list[str], rows: list[list]) -> str:
    """A Markdown table; numbers and None are written as `format_table` writes them, `|` in a
    cell becomes `/`."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(c).replace("|", "/") for c in row) + " |" for row in rows]
    return "\n".join(lines)
