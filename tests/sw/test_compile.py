"""The compiler: folding is exact where the float model is exactly representable."""

import numpy as np
import pytest
import torch
from spikeloom.models.mlp import MLPConfig, SpikingMLP
from spikeloom.models.train import TrainConfig, train
from spikeloom.sw.compiler.compile import CompileOptions, compile_model
from spikeloom.sw.compiler.encode import encode
from spikeloom.sw.compiler.golden import run_golden


def _set_exact_fold(model: SpikingMLP, rng: np.random.Generator):
    """Give every layer a power-of-two scale (some negative) and integer shifts.

    Then the float model is exactly an integer model scaled by 2^-3, which the compiler must
    recover: the float and the integer spikes must agree one for one (docs/semantics.md's
    claim that with leak k=1 the integer membrane is the floor of the float one).
    """
    with torch.no_grad():
        for layer in model.layers[:-1]:
            n = layer.norm.num_features
            layer.norm.eps = 0.0
            layer.norm.running_mean.zero_()
            layer.norm.running_var.fill_(1.0)
            sign = torch.from_numpy(rng.choice([-1.0, 1.0], size=n).astype(np.float32))
            layer.norm.weight.copy_(0.125 * sign)
            shift = torch.from_numpy(rng.integers(-6, 6, size=n).astype(np.float32))
            layer.norm.bias.copy_(0.125 * shift)
        head = model.layers[-1]
        head.gain.fill_(-0.25)  # a negative shared scale flips every readout weight
        head.bias.copy_(0.25 * torch.arange(head.bias.numel(), dtype=torch.float32))


@pytest.mark.parametrize(
    "neuron, burst_max, reset",
    [("lif", 1, "subtract"), ("lif", 1, "zero"), ("lifb", 3, "subtract")],
)
def test_exactly_representable_model_compiles_spike_for_spike(neuron, burst_max, reset):
    torch.manual_seed(0)
    config = MLPConfig(
        in_features=12,
        hidden=[20, 9],
        encoder="thermometer",
        encoder_levels=3,
        timesteps=5,
        neuron=neuron,
        burst_max=burst_max,
        reset=reset,
        leak_shift=1,
    )
    model = SpikingMLP(config).eval()
    _set_exact_fold(model, np.random.default_rng(1))
    program, folds = compile_model(model, CompileOptions(v_bits=24))
    assert [layer.threshold.tolist() for layer in program.layers[:-1]] == [[8] * 20, [8] * 9]
    assert folds[0].flipped == int((model.layers[0].norm.weight < 0).sum()) > 0

    x = torch.rand(64, 12)
    spikes = encode(program, x.numpy())
    result = run_golden(program, spikes)
    with torch.no_grad():
        float_spikes = model.encoder(x)
        for layer, compiled in zip(model.layers[:-1], program.layers):
            float_spikes = layer(float_spikes)
            np.testing.assert_array_equal(result.spikes[compiled.name], float_spikes.numpy())
        float_readout = model.layers[-1](float_spikes)
    # The readout is divided by |gain| = 0.25: integer readout = float readout * 4.
    np.testing.assert_array_equal(result.readout, (float_readout * 4).round().numpy())


def test_trained_model_keeps_its_accuracy_after_compilation():
    torch.manual_seed(0)
    config = MLPConfig(hidden=[64], encoder="thermometer", timesteps=4)
    model, history = train(config, TrainConfig(epochs=4, seed=0), progress=False)
    program, _ = compile_model(model)
    from spikeloom.models.datasets import load_dataset

    x, y = load_dataset("digits", "test")
    golden = (run_golden(program, encode(program, x)).predictions == y).mean()
    assert golden > 0.85
    assert abs(golden - history[-1]["test_accuracy"]) < 0.05


@pytest.mark.parametrize("weight_bits", [[1, 1], [2, 4], [8, 3]])
def test_weight_widths_and_spike_output(weight_bits):
    config = MLPConfig(hidden=[16], encoder="rate", weight_bits=weight_bits, output="spikes")
    program, _ = compile_model(SpikingMLP(config).eval())
    assert [layer.weight_bits for layer in program.layers] == weight_bits
    assert [layer.neuron for layer in program.layers] == ["lif", "lif"]
    for layer, bits in zip(program.layers, weight_bits):
        bound = 1 if bits == 1 else 1 << (bits - 1)
        assert np.abs(layer.weight).max() <= bound


def test_auto_v_bits_holds_thresholds_and_readout_sums():
    config = MLPConfig(hidden=[32], encoder="thermometer", neuron="lifb", burst_max=4)
    program, _ = compile_model(SpikingMLP(config).eval())
    hidden, readout = program.layers
    assert 4 * int(hidden.threshold.max()) < 1 << (hidden.v_bits - 1)
    worst = program.timesteps * (4 * 32 + int(np.abs(readout.bias).max()))
    assert worst < 1 << (readout.v_bits - 1)


def test_thresholds_beyond_an_explicit_membrane_width_are_clipped_and_reported():
    model = SpikingMLP(MLPConfig(hidden=[8], encoder="thermometer")).eval()
    with torch.no_grad():
        model.layers[0].norm.weight[3] = 1e-12  # a nearly dead neuron: theta ~ 1e9
    program, folds = compile_model(model, CompileOptions(v_bits=10))
    assert program.layers[0].threshold[3] == 511
    assert "1 neurons' thresholds or biases clipped to -512..511" in folds[0].notes[0]
    auto, _ = compile_model(model)
    assert auto.layers[0].v_bits == 32  # auto width stops at the format's limit


def test_auto_v_bits_leaves_room_for_any_leak_shift_the_cli_accepts():
    # A long time constant on small weights: the membrane must still be wider than the shift.
    model = SpikingMLP(MLPConfig(hidden=[8], encoder="thermometer", leak_shift=30)).eval()
    program, _ = compile_model(model)
    spiking = [layer for layer in program.layers if layer.spiking]
    assert spiking and all(layer.v_bits >= 31 for layer in spiking)
