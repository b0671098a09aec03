"""The errors spikeloom raises for bad input: each one is printed as a one-line message."""

__all__ = ["SpikeloomError", "ProgramError", "InputError", "RunError"]


class SpikeloomError(Exception):
    """Base of every error caused by what the user gave us (not by a bug in spikeloom)."""


class ProgramError(SpikeloomError, ValueError):
    """A Program is malformed, or does not fit the target it is compiled for."""


class InputError(SpikeloomError, ValueError):
    """Input spikes, a data set or a checkpoint file is unusable."""


class RunError(SpikeloomError):
    """A run stopped early. `result` holds exactly the samples that completed, in order (a
    sample counts once its counters are in), and `result.requested` the number asked for.

    `cause` says why in one line; the message is "CAUSE; N of M samples completed".
    `interrupted` is True when the user interrupted the run (Ctrl-C, `KeyboardInterrupt`;
    `cause` is then "interrupted"), False when the link or its transport failed.
    """

    def __init__(self, cause: str, result, interrupted: bool = False):
        # `result` is a `sw.result.Result`; not imported, so that errors stays a leaf module.
        self.cause, self.result, self.interrupted = cause, result, interrupted
        super().__init__(f"{cause}; {result.samples} of {result.requested} samples completed")
