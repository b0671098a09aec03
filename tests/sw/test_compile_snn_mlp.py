"""compile_snn_mlp: a SpikingSNNMLP as a format-2 graph, exact spike for spike where the float
model is exactly representable (the pattern of test_compile_graph.py), scans included."""

import numpy as np
import pytest
import torch
from spikeloom.models.snn_mlp import POPULATIONS, SNNMLPConfig, SpikingSNNMLP
from spikeloom.sw.compiler.compile_graph import GraphCompileOptions
from spikeloom.sw.compiler.compile_snn_mlp import compile_snn_mlp
from spikeloom.sw.compiler.graph import Scan, load_graph, save_graph
from spikeloom.sw.compiler.graph_golden import projection_bound, run_graph_golden

from .exact_norms import set_exact_norms, set_exact_readout

GAIN_SHIFT = 4
SEEDS = {"model": 0, "norms": 1, "spikes": 2}


def _set_exact(model: SpikingSNNMLP, rng: np.random.Generator) -> None:
    set_exact_norms(model, rng, GAIN_SHIFT)
    set_exact_readout(model, rng, GAIN_SHIFT)


def _config(**overrides) -> SNNMLPConfig:
    settings = dict(channels=6, blocks=2, timesteps=3, levels=3, gain_shift=GAIN_SHIFT)
    return SNNMLPConfig(**{**settings, **overrides})


@pytest.mark.parametrize(
    "neuron, burst_max, reset, carry_shift, weight_bits",
    [("lif", 1, "zero", 2, 1), ("lif", 1, "subtract", 2, 3), ("lifb", 3, "subtract", 1, 1)],
)
def test_exactly_representable_snn_mlp_compiles_spike_for_spike(
    neuron, burst_max, reset, carry_shift, weight_bits
):
    print(f"seeds {SEEDS}")
    torch.manual_seed(SEEDS["model"])
    config = _config(
        neuron=neuron,
        burst_max=burst_max,
        reset=reset,
        scan_carry_shift=carry_shift,
        weight_bits=weight_bits,
    )
    model = SpikingSNNMLP(config).eval()
    _set_exact(model, np.random.default_rng(SEEDS["norms"]))
    graph, notes = compile_snn_mlp(model)
    assert not any(fold.notes for fold in notes[:-1])
    assert {int(t) for p in graph.populations[:-1] for t in p.threshold.flat} <= {8, 16, 32}

    rng = np.random.default_rng(SEEDS["spikes"])
    spikes = (rng.random((32, config.timesteps, 3, 8, 8)) < 0.4).astype(np.uint8)
    result = run_graph_golden(graph, spikes)
    with torch.no_grad():
        float_readout, float_spikes = model.run(torch.from_numpy(spikes).float())
    assert list(float_spikes) == [p.name for p in graph.populations if p.spiking]
    for name, values in float_spikes.items():
        assert values.sum() > 0, name  # the comparison means something only if they fire
        np.testing.assert_array_equal(result.spikes[name], values.numpy(), err_msg=name)
    if burst_max > 1:
        scans = [result.spikes[p.name] for p in graph.populations if p.neuron == "scan"]
        assert max(int(s.max()) for s in scans) > 1  # bursts did reach the scans' consumers
    # The readout is divided by |gain * step| / 2^g: integer = float * 2^g / |gain * step|.
    factor = 2**GAIN_SHIFT / abs(float(model.gain.detach() * model.head.step()))
    np.testing.assert_array_equal(result.readout, (float_readout * factor).round().numpy())
    np.testing.assert_array_equal(result.readout.argmax(1), float_readout.argmax(1).numpy())


def test_graph_layout_shared_weights_and_round_trip(tmp_path):
    torch.manual_seed(SEEDS["model"])
    config = _config(channels=4, levels=2, neuron="lifb", burst_max=2)
    model = SpikingSNNMLP(config).eval()
    graph, _ = compile_snn_mlp(model)
    names = ["x0", *[f"b{i}_{p}" for i in range(config.blocks) for p in POPULATIONS], "readout"]
    assert [p.name for p in graph.populations] == names
    for i in range(config.blocks):
        lr, td = graph.population(f"b{i}_lr"), graph.population(f"b{i}_td")
        assert (lr.neuron, lr.leak_shift, lr.burst_max) == ("scan", None, 2)
        assert lr.scan == Scan(2, config.scan_group, config.scan_carry_shift)
        assert td.scan == Scan(1, config.scan_group, config.scan_carry_shift)
        (dw,) = graph.projections_into(f"b{i}_a")
        assert (dw.kind, dw.groups, dw.padding) == ("conv", 4, (1, 1))
        assert graph.weights[dw.weight].values.shape == (4, 1, 3, 3)
        merges = [p for p in graph.projections if p.weight == f"b{i}_merge"]
        # lr and td into this block's t and out, and into every later block's t and out.
        assert len(merges) == 2 * 2 * (config.blocks - i)
    # The residual current: h into x0, and into every block's t and out.
    patches = [p.target for p in graph.projections if p.weight == "patch"]
    assert patches == ["x0", *[f"b{i}_{p}" for i in range(config.blocks) for p in ("t", "out")]]
    for pop in graph.populations[:-1]:
        assert pop.threshold.shape == (pop.shape[0], 1, 1)
        assert {p.gain_shift for p in graph.projections_into(pop.name)} == {config.gain_shift}

    save_graph(graph, tmp_path / "snn_mlp")
    loaded = load_graph(tmp_path / "snn_mlp")
    assert [p.header() for p in loaded.populations] == [p.header() for p in graph.populations]
    spikes = model.encoder(torch.rand(8, 64)).numpy().astype(np.uint8)
    before, after = run_graph_golden(graph, spikes), run_graph_golden(loaded, spikes)
    np.testing.assert_array_equal(after.readout, before.readout)
    for name, values in before.spikes.items():
        np.testing.assert_array_equal(after.spikes[name], values, err_msg=name)


@pytest.mark.parametrize("carry_shift", [0, 2])
def test_scan_widths_hold_the_walk(carry_shift):
    model = SpikingSNNMLP(_config(channels=4, blocks=1, scan_carry_shift=carry_shift)).eval()
    graph, _ = compile_snn_mlp(model, GraphCompileOptions(headroom_bits=0))
    lr = graph.population("b0_lr")
    bound = sum(projection_bound(graph, p) << p.gain_shift for p in graph.projections_into("b0_lr"))
    bound += int(np.abs(lr.bias).max())
    # |h| <= 2B + 1 with a decaying carry; G B (G = 4 positions) with a whole one.
    worst = 2 * bound + 1 if carry_shift else 4 * bound
    assert worst <= (1 << (lr.v_bits - 1)) - 1
    coarse, _ = compile_snn_mlp(model, GraphCompileOptions(gain_shift=0))
    assert {p.gain_shift for p in coarse.projections} == {0}


@pytest.mark.parametrize(
    "bad, named",
    [
        ({"scan_group": 0}, "scan_group must be >= 1, got 0"),
        ({"scan_carry_shift": 8}, "scan_carry_shift must be in 0..7, got 8"),
        ({"gain_shift": -1}, "gain_shift must be in 0..7, got -1"),
        ({"channels": 0}, "channels must be >= 1, got 0"),
        ({"patch": 3}, "patch 3 does not divide image_size 8"),
        ({"neuron": "lif", "burst_max": 2}, "burst_max 1, got 2"),
        ({"reset": "soft"}, "'soft'"),
        ({"weight_bits": 9}, "weight_bits must be in 1..8, got 9"),
    ],
)
def test_config_rejects_with_the_value(bad, named):
    with pytest.raises(ValueError) as error:
        SNNMLPConfig(**bad)
    assert named in str(error.value)
    assert "\n" not in str(error.value)
