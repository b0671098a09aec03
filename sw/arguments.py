"""The command line's argument types and parser: each bad value is named with its limit.

argparse turns an `ArgumentTypeError` into `spikeloom CMD: error: argument --X: MESSAGE`; `Parser`
keeps that on one line and points at the command's `--help`, whose defaults `HelpFormatter`
shows.
"""

import argparse
import math

from spikeloom.hw.params import V_BITS

__all__ = [
    "HelpFormatter",
    "Parser",
    "int_in",
    "positive_float",
    "leak_shift",
    "int_list",
    "neuron_choice",
]


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults in every option's help (except None and flags), examples kept as written."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or action.default is argparse.SUPPRESS:
            return action.help
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error that points at the command's --help."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def int_in(low: int, high: int | None = None):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low or (high is not None and value > high):
            limit = f"{low}..{high}" if high is not None else f">= {low}"
            raise argparse.ArgumentTypeError(f"{value} is out of range (must be {limit})")
        return value

    parse.__name__ = "integer"
    return parse


def positive_float(high: float | None = None):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value) or value <= 0 or (high is not None and value > high):
            limit = f"> 0 and <= {high:g}" if high is not None else "> 0"
            raise argparse.ArgumentTypeError(f"{text} is out of range (must be {limit})")
        return value

    parse.__name__ = "number"
    return parse


def leak_shift(text: str):
    if text.lower() == "none":
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer or 'none', got {text!r}") from None
    # The membrane is at most 32 bits wide and the leak shifts it right: a shift beyond the
    # widest membrane the compiler can choose would be a leak of nothing at all.
    high = V_BITS.stop - 2
    if not 0 <= value <= high:
        raise argparse.ArgumentTypeError(f"{value} is out of range (must be 0..{high} or 'none')")
    return value


def int_list(low: int, high: int):
    def parse(text: str) -> list[int]:
        try:
            values = [int(part) for part in text.split(",") if part.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected comma-separated integers, got {text!r}"
            ) from None
        for value in values:
            if not low <= value <= high:
                raise argparse.ArgumentTypeError(f"{value} is out of range (must be {low}..{high})")
        return values

    parse.__name__ = "list"
    return parse


def neuron_choice(text: str) -> dict[str, list[int]]:
    """`layer:i,j;layer2:k` -> {"layer": [i, j], "layer2": [k]}."""
    chosen = {}
    for part in filter(None, text.split(";")):
        name, _, indices = part.partition(":")
        try:
            chosen[name] = [int(i) for i in indices.split(",") if i]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected LAYER:I,J[;LAYER:K], got {text!r}"
            ) from None
        if not name or not chosen[name] or min(chosen[name]) < 0:
            raise argparse.ArgumentTypeError(f"expected LAYER:I,J[;LAYER:K], got {text!r}")
    return chosen
