"""The report figures: each writes a PNG, and bad input raises ValueError naming the problem."""

import numpy as np
import pytest
from spikeloom.sw.compiler.golden import run_golden
from spikeloom.sw.compiler.random_program import edge_programs, mnist_shaped_program, random_spikes
from spikeloom.sw.reports import plots

PNG = b"\x89PNG\r\n\x1a\n"


def assert_png(path, written) -> None:
    assert written == path
    data = path.read_bytes()
    assert data[:8] == PNG
    # A blank canvas at this size is a few kB; drawn axes, text and data take well over that.
    assert 5_000 < len(data) < 2_000_000


@pytest.fixture
def rng():
    return np.random.default_rng(7)


@pytest.fixture
def spikes(rng):
    return {
        "fc1": (rng.random((3, 4, 40)) < 0.3).astype(np.uint8),
        "fc2": rng.integers(0, 8, (3, 4, 12)).astype(np.uint8),  # LIFB bursts
    }


@pytest.fixture
def membranes(rng):
    return {
        "fc1": rng.integers(-50, 50, (3, 4, 40)).astype(np.int64),
        "fc2": rng.integers(-20, 20, (3, 4, 12)).astype(np.int64),
    }


def test_spike_raster_with_input_and_bursts(tmp_path, rng, spikes):
    inputs = (rng.random((3, 4, 784)) < 0.2).astype(np.uint8)
    path = tmp_path / "raster.png"
    assert_png(path, plots.spike_raster(spikes, path, sample=1, input_spikes=inputs))


def test_spike_raster_draws_a_silent_layer(tmp_path, spikes):
    spikes["silent"] = np.zeros((3, 4, 5), np.uint8)
    path = tmp_path / "raster.png"
    assert_png(path, plots.spike_raster(spikes, str(path)))


def test_spike_raster_rejects_bad_input(tmp_path, spikes):
    path = tmp_path / "raster.png"
    with pytest.raises(ValueError, match="empty"):
        plots.spike_raster({}, path)
    with pytest.raises(ValueError, match=r"different numbers of timesteps \(fc1: 4, late: 5\)"):
        plots.spike_raster({"fc1": spikes["fc1"], "late": np.zeros((3, 5, 2), np.uint8)}, path)
    with pytest.raises(ValueError, match="sample 3 is out of range .* holds 3 samples"):
        plots.spike_raster(spikes, path, sample=3)
    with pytest.raises(ValueError, match="sample -1 is out of range"):
        plots.spike_raster(spikes, path, sample=-1)
    with pytest.raises(ValueError, match=r"expected \[samples, T, neurons\]"):
        plots.spike_raster({"flat": np.zeros((4, 2), np.uint8)}, path)
    with pytest.raises(ValueError, match="'input'"):
        plots.spike_raster(spikes, path, input_spikes=np.zeros((3, 0, 9), np.uint8))
    assert not path.exists()


def test_membrane_traces_with_thresholds_and_spikes(tmp_path, membranes, spikes):
    path = tmp_path / "membranes.png"
    written = plots.membrane_traces(
        membranes,
        {"fc1": [0, 5, 39], "fc2": [2]},
        path,
        sample=2,
        thresholds={"fc1": np.full(40, 30, np.int32)},
        spikes=spikes,
    )
    assert_png(path, written)


def test_membrane_traces_rejects_bad_input(tmp_path, membranes, spikes):
    path = tmp_path / "membranes.png"
    with pytest.raises(ValueError, match="empty"):
        plots.membrane_traces(membranes, {}, path)
    with pytest.raises(ValueError, match="empty"):
        plots.membrane_traces({}, {"fc1": [0]}, path)
    with pytest.raises(ValueError, match="neuron index 12 is out of range .*'fc2' of size 12"):
        plots.membrane_traces(membranes, {"fc2": [0, 12]}, path)
    with pytest.raises(ValueError, match="neuron index -1 is out of range .*'fc1' of size 40"):
        plots.membrane_traces(membranes, {"fc1": [-1]}, path)
    with pytest.raises(ValueError, match="'fc9' has no membrane trace"):
        plots.membrane_traces(membranes, {"fc9": [0]}, path)
    with pytest.raises(ValueError, match="no neurons chosen for layer 'fc1'"):
        plots.membrane_traces(membranes, {"fc1": []}, path)
    with pytest.raises(ValueError, match="sample 5 is out of range"):
        plots.membrane_traces(membranes, {"fc1": [0]}, path, sample=5)
    with pytest.raises(ValueError, match=r"thresholds of layer 'fc1' have shape \(3,\)"):
        plots.membrane_traces(membranes, {"fc1": [0]}, path, thresholds={"fc1": np.ones(3)})
    short = {"fc1": spikes["fc1"][:, :2]}
    with pytest.raises(ValueError, match="spikes of layer 'fc1' have shape"):
        plots.membrane_traces(membranes, {"fc1": [0]}, path, spikes=short)
    assert not path.exists()


def test_default_neurons_picks_the_widest_ranges_lowest_index_on_ties():
    trace = np.array(
        [
            # neuron: 0   1   2   3   4   5
            [0, 5, -3, 9, 0, 1],
            [0, -5, 3, 9, 1, 1],
            [0, 5, 3, 9, 0, 1],
        ]
    )  # ranges:   0, 10, 6,  0, 1,  0
    other = np.zeros((3, 2), np.int64)
    other[1, 1] = -4
    membranes = {"a": np.stack([np.zeros_like(trace), trace]), "b": np.stack([other, other])}
    assert plots.default_neurons(membranes, count=2, sample=1) == {"a": [1, 2], "b": [0, 1]}
    # Three at range 0 tie for the last place: the lowest index wins.
    assert plots.default_neurons(membranes, count=4, sample=1)["a"] == [0, 1, 2, 4]
    # Every range is 0 in sample 0, so the lowest indices come first.
    assert plots.default_neurons(membranes, count=3, sample=0)["a"] == [0, 1, 2]
    assert plots.default_neurons({"b": other[None]}, count=4) == {"b": [0, 1]}


def test_default_neurons_rejects_bad_input(membranes):
    with pytest.raises(ValueError, match="empty"):
        plots.default_neurons({})
    with pytest.raises(ValueError, match="count must be a positive integer"):
        plots.default_neurons(membranes, count=0)
    with pytest.raises(ValueError, match="sample 3 is out of range"):
        plots.default_neurons(membranes, sample=3)


def test_layer_bars_stacks_components(tmp_path):
    energy = {
        "fc1": {"static": 1.2, "weights": 3.4, "neuron memory": 0.5, "lanes": 2.0},
        "fc2": {"static": 0.3, "weights": 0.4, "event buffers": 0.05, "clock": 0.1},
    }
    path = tmp_path / "energy.png"
    assert_png(path, plots.layer_bars(energy, path, title="Energy per layer", unit="nJ"))
    cycles = {"fc1": {"cycles": 12345}, "fc2": {"cycles": 0}}
    path = tmp_path / "cycles.png"
    assert_png(path, plots.layer_bars(cycles, path, title="Cycles", unit="cycles per sample"))


def test_layer_bars_rejects_bad_input(tmp_path):
    path = tmp_path / "bars.png"
    with pytest.raises(ValueError, match="empty"):
        plots.layer_bars({}, path, title="t", unit="nJ")
    with pytest.raises(ValueError, match="no components"):
        plots.layer_bars({"fc1": {}}, path, title="t", unit="nJ")
    with pytest.raises(ValueError, match="'lanes' of layer 'fc1' is -1"):
        plots.layer_bars({"fc1": {"lanes": -1.0}}, path, title="t", unit="nJ")
    with pytest.raises(ValueError, match="'lanes' of layer 'fc1' is nan"):
        plots.layer_bars({"fc1": {"lanes": float("nan")}}, path, title="t", unit="nJ")


def test_sparsity_bars(tmp_path):
    path = tmp_path / "sparsity.png"
    written = plots.sparsity_bars({"input": 0.81, "fc1": 0.97, "fc2": 0.0}, path)
    assert_png(path, written)
    with pytest.raises(ValueError, match="empty"):
        plots.sparsity_bars({}, path)
    with pytest.raises(ValueError, match="sparsity of 'fc1' is 1.5, outside 0..1"):
        plots.sparsity_bars({"fc1": 1.5}, path)


def test_golden_traces_and_spikes(tmp_path):
    rng = np.random.default_rng(11)
    program = mnist_shaped_program(rng, shape=(64, 24, 10), timesteps=4)
    inputs = random_spikes(rng, program, samples=2, rate=0.3)
    result = run_golden(program, inputs, trace=True)
    raster = tmp_path / "raster.png"
    assert_png(raster, plots.spike_raster(result.spikes, raster, sample=1, input_spikes=inputs))
    chosen = plots.default_neurons(result.membranes, sample=1)
    assert set(chosen) == {"fc1", "fc2"} and all(len(c) == 4 for c in chosen.values())
    traces = tmp_path / "membranes.png"
    written = plots.membrane_traces(
        result.membranes,
        chosen,
        traces,
        sample=1,
        thresholds={layer.name: layer.threshold for layer in program.layers if layer.spiking},
        spikes=result.spikes,
    )
    assert_png(traces, written)


def test_golden_bursts(tmp_path):
    program, inputs = edge_programs()["bursts_to_burst_max"]
    result = run_golden(program, inputs, trace=True)
    assert result.spikes["a"].max() > 1
    raster = tmp_path / "raster.png"
    assert_png(raster, plots.spike_raster(result.spikes, raster, input_spikes=inputs))
    traces = tmp_path / "membranes.png"
    chosen = plots.default_neurons(result.membranes, count=2)
    written = plots.membrane_traces(result.membranes, chosen, traces, spikes=result.spikes)
    assert_png(traces, written)


def estimate():
    """An FPGA estimate (`fpga_energy`) of two layers, with cycles outside them."""
    from spikeloom.boards import board_spec
    from spikeloom.sw.reports.energy import ACTIVITY_COUNTS, board_coefficients, fpga_energy

    counts = {name: float(i + 1) for i, name in enumerate(ACTIVITY_COUNTS)}
    activity = {
        "sample_cycles": 500.0,
        "layers": {"fc1": {**counts, "compute_cycles": 300.0}, "fc2": counts},
        "other": {"outside_cycles": 199.0},
    }
    costs = board_coefficients("icebreaker", board_spec("icebreaker").params)
    return fpga_energy(activity, costs, 24e6)


def test_energy_bars_add_up_to_the_total(tmp_path, monkeypatch):
    """The bars drawn, the layers' and the part outside them, sum to the estimate's total,
    and the caption says how much that is."""
    from spikeloom.sw.reports.energy import OUTSIDE_LAYERS
    from spikeloom.sw.reports.table import number

    energy = estimate()
    drawn = []
    save = plots._save
    monkeypatch.setattr(
        plots, "_save", lambda figure, path: (drawn.append(_bars(figure)), save(figure, path))[1]
    )
    path = tmp_path / "energy.png"
    assert_png(path, plots.energy_bars(energy, path, title="Energy per sample"))
    (heights, labels, caption) = drawn[0]
    assert labels == ["fc1", "fc2", OUTSIDE_LAYERS]
    assert sum(heights) == pytest.approx(energy["total"]["total"])
    assert energy["other"]["total"] > 0
    assert number(energy["total"]["total"], "nJ", suffix=True) in caption


def _bars(figure):
    """(every bar segment's height, the x labels, the caption) of a `layer_bars` figure."""
    ax = figure.axes[0]
    heights = [patch.get_height() for patch in ax.patches]
    labels = [tick.get_text() for tick in ax.get_xticklabels()]
    return heights, labels, figure.get_supxlabel().replace("\n", " ")


def test_energy_bars_refuse_parts_that_miss_the_total(tmp_path):
    energy = estimate()
    energy["total"] = {**energy["total"], "total": energy["total"]["total"] + 1.0}
    with pytest.raises(ValueError, match="add up to .* not to the total"):
        plots.energy_bars(energy, tmp_path / "energy.png", title="t")
