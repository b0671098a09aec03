"""One file per FPGA board: platform, clock, engine size; `boards.build` makes the bitstream."""

from importlib import import_module

__all__ = ["BOARDS", "board_spec"]

#: Board names (as the command line spells them) and the module describing each.
BOARDS = {"icebreaker": "spikeloom.boards.icebreaker", "ulx3s-85f": "spikeloom.boards.ulx3s_85f"}


def board_spec(name: str):
    """The `BoardSpec` of board `name`; ValueError naming the boards there are."""
    if name not in BOARDS:
        raise ValueError(f"unknown board {name!r}: one of {', '.join(BOARDS)}")
    return import_module(BOARDS[name]).SPEC
