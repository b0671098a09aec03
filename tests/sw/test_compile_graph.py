"""compile_mixer: a SpikingMixer as a format-2 graph, exact where the float model is exactly
representable (the pattern of test_compile.py, on a graph)."""

import numpy as np
import pytest
import torch
from spikeloom.models.mixer import MixerConfig, SpikingMixer, mixer_preset
from spikeloom.sw.compiler.compile_graph import GraphCompileOptions, compile_mixer
from spikeloom.sw.compiler.graph import load_graph, save_graph
from spikeloom.sw.compiler.graph_golden import run_graph_golden

from .exact_norms import set_exact_norms, set_exact_readout

GAIN_SHIFT = 4


def _set_exact(model: SpikingMixer, rng: np.random.Generator) -> None:
    set_exact_norms(model, rng, GAIN_SHIFT)
    set_exact_readout(model, rng, GAIN_SHIFT)
    with torch.no_grad():
        if model.config.projection_gains:
            # Powers of two are exact: the integer projection shifts are g + e.
            for exponent in model.gain_exponents.values():
                exponent.fill_(float(rng.integers(-2, 3)))


EXACT_CASES = {
    "lif": dict(neuron="lif", burst_max=1, reset="zero", token_norm="channel"),
    "lif-subtract-3bit": dict(neuron="lif", burst_max=1, reset="subtract", weight_bits=3),
    "lifb": dict(neuron="lifb", burst_max=3, reset="subtract", token_norm="channel"),
    "spe-lif-axis-norm": dict(neuron="lif", burst_max=1, stages=2, token_norm="axis"),
    "spe-lifb-axis-norm": dict(neuron="lifb", burst_max=3, stages=2, token_norm="axis"),
    "spe-lifb-channel-norm": dict(
        neuron="lifb", burst_max=2, reset="subtract", stages=2, token_norm="channel"
    ),
    "lif-axis-norm-gains": dict(
        neuron="lif", burst_max=1, token_norm="axis", projection_gains=True
    ),
}


@pytest.mark.parametrize("case", EXACT_CASES.values(), ids=EXACT_CASES.keys())
def test_exactly_representable_mixer_compiles_spike_for_spike(case):
    torch.manual_seed(0)
    config = MixerConfig(channels=6, blocks=2, timesteps=5, levels=3, gain_shift=GAIN_SHIFT, **case)
    model = SpikingMixer(config).eval()
    _set_exact(model, np.random.default_rng(1))
    graph, notes = compile_mixer(model)
    assert not any(fold.notes for fold in notes[:-1])
    assert {int(t) for p in graph.populations[:-1] for t in p.threshold.flat} <= {8, 16, 32}
    if config.token_norm == "axis":
        assert graph.population("b0_h").threshold.shape == (1, 4, 1)
        assert graph.population("b1_w").threshold.shape == (1, 1, 4)

    rng = np.random.default_rng(2)
    spikes = (rng.random((48, config.timesteps, 3, 8, 8)) < 0.4).astype(np.uint8)
    result = run_graph_golden(graph, spikes)
    with torch.no_grad():
        float_readout, float_spikes = model.run(torch.from_numpy(spikes).float())
    assert set(float_spikes) == {p.name for p in graph.populations if p.spiking}
    for name, values in float_spikes.items():
        assert values.sum() > 0, name  # the comparison means something only if they fire
        np.testing.assert_array_equal(result.spikes[name], values.numpy(), err_msg=name)
    if config.burst_max > 1:
        assert max(int(values.max()) for values in result.spikes.values()) > 1
    # The readout is divided by |gain * step| / 2^g: integer = float * 2^g / |gain * step|.
    factor = 2**GAIN_SHIFT / abs(float(model.gain.detach() * model.head.step()))
    np.testing.assert_array_equal(result.readout, (float_readout * factor).round().numpy())


def test_spe_stage_projections_and_stored_weights():
    config = MixerConfig(channels=4, blocks=1, levels=2, stages=2, stage2_blocks=1)
    model = SpikingMixer(config).eval()
    graph, _ = compile_mixer(model)
    width, n = config.stage2_width, config.stage2_width // 3
    assert (width, config.stage2_tokens) == (9, 2)
    assert graph.population("s2_n1").shape == (n, 2, 2)
    assert graph.population("s2_x0").shape == (width, 2, 2)
    into_x0 = graph.projections_into("s2_x0")
    # h2 = cat(node1, node2, node3): each term into its node's channel range.
    assert [(p.source, p.weight, p.stride, p.padding, p.channels) for p in into_x0] == [
        ("b0_out", "s2_A", (2, 2), (1, 1), (0, n)),
        ("b0_out", "s2_B", (2, 2), (1, 1), (n, 2 * n)),
        ("s2_n1", "s2_E12", (1, 1), (1, 1), (n, 2 * n)),
        ("b0_out", "s2_D", (2, 2), (1, 1), (2 * n, 3 * n)),
        ("b0_out", "s2_A", (2, 2), (1, 1), (2 * n, 3 * n)),
        ("s2_n2", "s2_E23", (1, 1), (1, 1), (2 * n, 3 * n)),
    ]
    # h2 is added into x0, x_t and the block output, with the same ranges.
    for target in ("s2_b0_t", "s2_b0_out"):
        into = graph.projections_into(target)
        assert [(p.source, p.weight, p.channels) for p in into[: len(into_x0)]] == [
            (p.source, p.weight, p.channels) for p in into_x0
        ]
    # The five SPE tensors, each stored once and binary: A also feeds s2_n1, and B, E12 s2_n2.
    spe = {name: w for name, w in graph.weights.items() if not name.startswith(("s2_b", "b"))}
    spe.pop("patch"), spe.pop("readout")
    assert {name: (w.bits, w.values.shape) for name, w in spe.items()} == {
        "s2_A": (1, (n, 4, 3, 3)),
        "s2_B": (1, (n, 4, 3, 3)),
        "s2_D": (1, (n, 4, 3, 3)),
        "s2_E12": (1, (n, n, 3, 3)),
        "s2_E23": (1, (n, n, 3, 3)),
    }
    uses = {name: sum(p.weight == name for p in graph.projections) for name in spe}
    assert uses == {"s2_A": 1 + 2 * 3, "s2_B": 1 + 3, "s2_D": 3, "s2_E12": 1 + 3, "s2_E23": 3}
    assert [p.source for p in graph.projections_into("readout")] == ["s2_b0_out"]


@pytest.mark.parametrize("preset", ["mnist-p7", "mnist-p4"])
def test_mnist_presets_compile_and_run_on_the_golden_model(preset):
    torch.manual_seed(0)
    model = SpikingMixer(mixer_preset(preset, channels=12)).eval()
    graph, _ = compile_mixer(model)
    assert graph.input_shape == (4, 28, 28)
    spikes = model.encoder(torch.rand(2, 784)).numpy().astype(np.uint8)
    result = run_graph_golden(graph, spikes)
    assert result.readout.shape == (2, 10)
    grid = model.config.stage2_tokens
    assert graph.population("s2_x0").shape == (model.config.stage2_width, grid, grid)


def test_graph_stores_the_patch_weight_once_and_round_trips(tmp_path):
    config = MixerConfig(channels=4, blocks=2, levels=2)
    model = SpikingMixer(config).eval()
    graph, _ = compile_mixer(model)
    graph.validate()
    convs = [p for p in graph.projections if p.kind == "conv"]
    # x0, and x_t and the output of each block, all add h from the one stored tensor.
    assert len(convs) == 1 + 2 * config.blocks
    assert {p.weight for p in convs} == {"patch"}
    assert graph.weights["patch"].values.shape == (4, 2, 2, 2)
    assert graph.input_shape == (2, 8, 8)
    assert graph.encoder == {
        "kind": "thermometer_image",
        "features": 64,
        "levels": 2,
        "height": 8,
        "width": 8,
    }
    for pop in graph.populations[:-1]:
        # Per row for x_h, per column for x_w (the default token_norm), else per channel.
        kind = pop.name.split("_")[-1]
        expected = {"h": (1, 4, 1), "w": (1, 1, 4)}.get(kind, (pop.shape[0], 1, 1))
        assert pop.threshold.shape == expected
        assert {p.gain_shift for p in graph.projections_into(pop.name)} == {config.gain_shift}
    save_graph(graph, tmp_path / "mixer")
    loaded = load_graph(tmp_path / "mixer")
    x = torch.rand(8, 64)
    spikes = model.encoder(x).numpy().astype(np.uint8)
    np.testing.assert_array_equal(
        run_graph_golden(loaded, spikes).readout, run_graph_golden(graph, spikes).readout
    )


def test_v_bits_hold_the_sum_of_every_projection():
    model = SpikingMixer(MixerConfig(channels=4, blocks=1, levels=2, gain_shift=4)).eval()
    graph, _ = compile_mixer(model)
    out = graph.population("b0_out")
    # h (2*2*2 taps), three token mixings of 4 channels and ff's 12: 8 + 12 + 12 = 32 events,
    # times 2^4, plus 2 bits of headroom.
    worst = 32 * 16 + int(np.abs(out.bias).max())
    assert worst < 1 << (out.v_bits - 1 - 2)
    fixed, _ = compile_mixer(model, GraphCompileOptions(v_bits=20))
    assert {p.v_bits for p in fixed.populations} == {20}
    coarse, _ = compile_mixer(model, GraphCompileOptions(gain_shift=0))
    assert {p.gain_shift for p in coarse.projections} == {0}
    assert coarse.population("b0_out").v_bits < out.v_bits
