"""Random valid Programs and input spikes, for bit-exactness sweeps across backends.

Values are drawn so that every rule is exercised: all neuron kinds, weight widths, leaks (none
and 0..), both resets, bursts, and membranes narrow enough to saturate at both ends.
"""

import numpy as np
from spikeloom.hw.params import BURST_MAX, v_range, weight_range
from spikeloom.sw.compiler.program import Layer, Program

__all__ = ["random_program", "random_spikes", "mnist_shaped_program", "edge_programs"]


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


def _layer(name, weight, threshold, bias, **settings) -> Layer:
    return Layer(
        name=name,
        weight=np.asarray(weight, np.int8),
        threshold=np.asarray(threshold, np.int32),
        bias=np.asarray(bias, np.int32),
        **settings,
    )


def edge_programs() -> dict[str, tuple[Program, np.ndarray]]:
    """Hand-picked Programs with spikes, each aimed at one corner of the rules."""
    rng = np.random.default_rng(2024)
    cases = {}

    def add(name, timesteps, layers, spikes):
        program = Program(timesteps=timesteps, inputs=layers[0].inputs, layers=layers)
        cases[name] = (program.validate(), np.asarray(spikes, np.uint8))

    ones = rng.choice(np.array([-1, 1], np.int8), size=(9, 37))
    add(
        "t1_wide_layer_not_multiple_of_lanes",
        1,
        [_layer("a", ones, rng.integers(1, 4, 37), rng.integers(-2, 3, 37))],
        rng.integers(0, 2, (3, 1, 9)),
    )
    add(
        "silent_timesteps",
        4,
        [
            _layer("a", ones[:, :5], [1] * 5, [0] * 5, leak_shift=1),
            _layer("b", np.ones((5, 2)), [1, 1], [0, 0], neuron="readout"),
        ],
        np.zeros((2, 4, 9)),
    )
    add(
        "one_neuron_layers",
        3,
        [
            _layer("a", np.ones((4, 1)), [2], [0], reset="subtract"),
            _layer("b", [[1]], [1], [0]),
        ],
        [[[1, 1, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1]]],
    )
    add(
        "saturation_both_ends",
        5,
        [
            _layer(
                "a",
                [[127, -128]],
                [127, 1],
                [100, -100],
                weight_bits=8,
                v_bits=8,
                neuron="lifb",
                burst_max=2,
                reset="subtract",
            ),
            _layer(
                "b",
                [[-128, 127], [127, -128]],
                [1, 1],
                [-128, 127],
                weight_bits=8,
                v_bits=8,
                neuron="readout",
            ),
        ],
        [[[1], [1], [1], [0], [1]]],
    )
    add(
        "bursts_to_burst_max",
        2,
        [
            _layer(
                "a",
                np.full((3, 4), 3),
                [1, 2, 3, 100],
                [40, 11, 6, 0],
                weight_bits=3,
                neuron="lifb",
                burst_max=7,
                reset="subtract",
                v_bits=10,
            ),
            _layer(
                "b",
                np.full((4, 3), -2),
                [1, 1, 1],
                [0, 0, 0],
                weight_bits=2,
                neuron="lifb",
                burst_max=3,
                leak_shift=0,
            ),
        ],
        [[[1, 1, 1], [1, 0, 1]], [[0, 0, 0], [1, 1, 1]]],
    )
    add(
        "leak_zero_empties",
        3,
        [_layer("a", np.ones((2, 3)), [5, 5, 5], [2, 3, 4], leak_shift=0, reset="zero")],
        [[[1, 1], [1, 1], [0, 0]]],
    )
    return cases


def mnist_shaped_program(
    rng: np.random.Generator, shape=(784, 256, 10), timesteps: int = 4
) -> Program:
    """A random binary MLP of MNIST's shape: LIF hidden layers, an integer readout."""

    def binary(rows: int, cols: int) -> np.ndarray:
        return np.where(rng.random((rows, cols)) < 0.5, 1, -1).astype(np.int8)

    layers = []
    for index, (n_in, n_out) in enumerate(zip(shape[:-1], shape[1:], strict=True)):
        readout = index == len(shape) - 2
        layers.append(
            Layer(
                name=f"fc{index + 1}",
                weight=binary(n_in, n_out),
                threshold=(np.ones(n_out) if readout else rng.integers(5, 41, n_out)).astype(
                    np.int32
                ),
                bias=rng.integers(-3, 4, n_out).astype(np.int32),
                neuron="readout" if readout else "lif",
                leak_shift=None if readout else 1,
                reset="subtract",
                v_bits=16,
            )
        )
    return Program(timesteps=timesteps, inputs=shape[0], layers=layers).validate()
