"""Tables for reports: plain text for terminals, Markdown for files."""

__all__ = ["format_table", "markdown_table"]


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        # Accuracies and ratios get four decimals; larger quantities need no more than one.
        return f"{value:.4f}" if abs(value) < 10 else f"{value:,.1f}"
    return str(value)


def format_table(headers: list[str], rows: list[list], title: str | None = None) -> str:
    """Left-aligned text columns, numbers right-aligned, with a rule under the headers."""
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(headers)]
    numeric = [
        all(isinstance(row[i], (int, float)) or row[i] is None for row in rows) and rows
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
