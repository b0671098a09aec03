"""The engine (`Engine`) and the blocks it is built from; docs/engine.md describes them."""

from .accumulator import Accumulator
from .core import Engine
from .counters import Counters
from .emitter import SpikeEmitter
from .receiver import InputReceiver
from .store import ConfigStore
from .sweep import Sweep

__all__ = [
    "Engine",
    "ConfigStore",
    "InputReceiver",
    "Accumulator",
    "Sweep",
    "SpikeEmitter",
    "Counters",
]
