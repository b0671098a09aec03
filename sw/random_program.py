"""Random valid Programs and input spikes, for bit-exactness sweeps across backends.

Values are drawn so that every rule is exercised: all neuron kinds, weight widths, leaks (none
and 0..), both resets, bursts, and membranes narrow enough to saturate at both ends.
"""

import numpy as np

from hw.params import BURST_MAX, v_range, weight_range

from .program import Layer, Program

__all__ = ["random_program", "random_spikes"]


def random_program(
    rng: np.random.Generator,
    *,
    max_layers: int = 3,
    max_width: int = 24,
    max_timesteps: int = 6,
    max_v_bits: int = 12,
) -> Program:
    """A random valid Program; the last layer is a readout about half the time."""
    n_layers = int(rng.integers(1, max_layers + 1))
    readout_last = bool(rng.integers(0, 2))
    n_in = int(rng.integers(1, max_width + 1))
    program = Program(timesteps=int(rng.integers(1, max_timesteps + 1)), inputs=n_in, layers=[])
    for index in range(n_layers):
        n_out = int(rng.integers(1, max_width + 1))
        if readout_last and index == n_layers - 1:
            neuron = "readout"
        else:
            neuron = str(rng.choice(["lif", "lifb"]))
        weight_bits = int(rng.choice([1, 1, 2, 3, 4, 8]))
        v_bits = int(rng.integers(8, max_v_bits + 1))
        low, high = weight_range(weight_bits)
        if weight_bits == 1:
            weight = rng.choice(np.array([-1, 1], dtype=np.int8), size=(n_in, n_out))
        else:
            weight = rng.integers(low, high + 1, size=(n_in, n_out)).astype(np.int8)
        v_low, v_high = v_range(v_bits)
        theta_high = int(rng.choice([4, 16, v_high]))
        layer = Layer(
            name=f"l{index}",
            weight=weight,
            threshold=rng.integers(1, theta_high + 1, size=n_out).astype(np.int32),
            bias=rng.integers(max(v_low, -64), min(v_high, 64) + 1, size=n_out).astype(np.int32),
            weight_bits=weight_bits,
            neuron=neuron,
            burst_max=int(rng.integers(2, BURST_MAX + 1)) if neuron == "lifb" else 1,
            leak_shift=None if rng.random() < 0.3 else int(rng.integers(0, min(6, v_bits))),
            reset=str(rng.choice(["zero", "subtract"])),
            v_bits=v_bits,
        )
        program.layers.append(layer)
        n_in = n_out
    return program.validate()


def random_spikes(rng: np.random.Generator, program: Program, samples: int, rate=None):
    """uint8 spikes `[samples, T, inputs]`; a random rate per sample unless `rate` is given."""
    shape = (samples, program.timesteps, program.inputs)
    rates = rng.random((samples, 1, 1)) if rate is None else rate
    return (rng.random(shape) < rates).astype(np.uint8)
