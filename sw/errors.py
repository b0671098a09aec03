"""The errors spikeloom raises for bad input: each one is printed as a one-line message."""

__all__ = ["SpikeloomError", "ProgramError", "InputError"]


class SpikeloomError(Exception):
    """Base of every error caused by what the user gave us (not by a bug in spikeloom)."""


class ProgramError(SpikeloomError, ValueError):
    """A Program is malformed, or does not fit the target it is compiled for."""


class InputError(SpikeloomError, ValueError):
    """Input spikes, a data set or a checkpoint file is unusable."""
