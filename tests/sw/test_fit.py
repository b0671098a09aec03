"""Fitting a Program to an engine build, and the overflow-free widths of each layer."""

import numpy as np
from spikeloom.hw.params import EngineParams
from spikeloom.sw.compiler.fit import check_fits, layer_widths
from spikeloom.sw.compiler.program import Layer, Program


def _program(inputs=784, hidden=256, weight_bits=1, v_bits=16, burst=1) -> Program:
    hidden_layer = Layer(
        name="fc1",
        weight=np.ones((inputs, hidden), np.int8),
        threshold=np.ones(hidden, np.int32),
        bias=np.full(hidden, -5, np.int32),
        weight_bits=weight_bits,
        neuron="lifb" if burst > 1 else "lif",
        burst_max=burst,
        v_bits=v_bits,
    )
    readout = Layer(
        name="fc2",
        weight=np.full((hidden, 10), -1, np.int8),
        threshold=np.ones(10, np.int32),
        bias=np.zeros(10, np.int32),
        neuron="readout",
        v_bits=v_bits,
    )
    return Program(timesteps=4, inputs=inputs, layers=[hidden_layer, readout]).validate()


def test_widths_bound_the_worst_case():
    fc1, fc2 = layer_widths(_program(burst=3))
    assert fc1.current_bits == 11  # |z| <= 784 needs 10 bits + sign
    assert fc2.current_bits == 11  # 256 inputs x 3 spikes = 768
    assert fc1.sum_bits == 17  # 2^15 + 784 + 5 < 2^16


def test_a_fitting_program_passes():
    ok, problems = check_fits(_program(), EngineParams(lanes=64, weight_words=784 * 4 + 256))
    assert ok and problems == []


def test_each_limit_is_named():
    params = EngineParams(
        lanes=64,
        max_layers=1,
        max_inputs=512,
        max_neurons=128,
        weight_words=1000,
        current_bits=10,
        max_v_bits=12,
        max_timesteps=2,
    )
    ok, problems = check_fits(_program(), params)
    text = "\n".join(problems)
    assert not ok
    for expected in [
        "2 layers exceed the 1",
        "4 timesteps exceed",
        "layer 'fc1': 784 inputs exceed 512",
        "layer 'fc1': 256 neurons exceed 128",
        "layer 'fc1': v_bits 16 exceeds 12",
        "words of memory",
        "layer 'fc1': currents need 11 bits, the engine's accumulators have 10",
    ]:
        assert expected in text
