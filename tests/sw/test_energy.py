"""The energy models: coefficient file, literature convention, FPGA estimate, engine activity."""

import copy

import numpy as np
import pytest
import yaml
from spikeloom.boards import board_spec
from spikeloom.sim.amaranth_backend import run_amaranth
from spikeloom.sw.compiler.fit import params_for_program
from spikeloom.sw.compiler.golden import run_golden
from spikeloom.sw.compiler.random_program import edge_programs
from spikeloom.sw.reports.energy import (
    ACTIVITY_COUNTS,
    COEFFICIENTS_FILE,
    COMPONENTS,
    activity,
    board_coefficients,
    format_energy,
    fpga_energy,
    literature_energy,
    load_coefficients,
    memory_blocks,
)
from spikeloom.sw.reports.metrics import workload_metrics

BOARDS = ("icebreaker", "ulx3s-85f")


def coefficient_entries(table):
    yield "literature.add", table["literature"]["add"]
    yield "literature.mac", table["literature"]["mac"]
    for board, entry in table["boards"].items():
        for name, coefficient in entry["coefficients"].items():
            yield f"{board}.{name}", coefficient


def test_every_coefficient_has_value_unit_kind_and_source():
    table = load_coefficients()
    assert set(table["boards"]) == set(BOARDS)
    for where, entry in coefficient_entries(table):
        assert entry["value"] >= 0, where
        assert entry["unit"] and entry["source"].strip(), where
        assert entry["kind"] in ("quoted", "derived", "estimate"), where
        if entry["kind"] != "quoted":
            assert entry["basis"].strip(), where


def test_literature_values_are_the_usual_ones():
    table = load_coefficients()
    assert table["literature"]["add"]["value"] == 0.9
    assert table["literature"]["mac"]["value"] == 4.6


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t: t["boards"]["icebreaker"]["coefficients"]["lane_add"].pop("source"), "source"),
        (lambda t: t["literature"]["add"].update(kind="guess"), "kind"),
        (lambda t: t["literature"]["mac"].pop("basis"), "basis"),
        (lambda t: t["literature"]["add"].update(unit="nJ"), "unit"),
        (lambda t: t["boards"]["ulx3s-85f"]["coefficients"].pop("clock_cycle"), "clock_cycle"),
        (lambda t: t["boards"]["icebreaker"]["coefficients"].pop("spram_read"), "spram_read"),
        (lambda t: t["boards"]["icebreaker"]["block_ram"].update(shapes=[[256]]), "depth"),
    ],
)
def test_malformed_coefficient_files_are_refused(tmp_path, edit, message):
    table = yaml.safe_load(COEFFICIENTS_FILE.read_text())
    edit(table)
    path = tmp_path / "energy.yaml"
    path.write_text(yaml.safe_dump(table))
    with pytest.raises(ValueError, match=message):
        load_coefficients(path)


def test_unknown_board_names_the_known_ones():
    params = board_spec("icebreaker").params
    with pytest.raises(ValueError, match=r"'tinyfpga'.*icebreaker, ulx3s-85f"):
        board_coefficients("tinyfpga", params)


def test_memory_blocks_match_the_board_builds():
    # The blocks per word of each memory in the place-and-route netlists of both builds.
    assert memory_blocks("icebreaker", board_spec("icebreaker").params) == {
        "weights": 1,  # one SPRAM
        "neurons": 4,  # 32-bit threshold/bias words in 512 x 8 EBRs
        "membranes": 2,
        "input_buffer": 3,  # 11-bit addresses in 1024 x 4 EBRs
        "spike_buffer": 2,
    }
    assert memory_blocks("ulx3s-85f", board_spec("ulx3s-85f").params) == {
        "weights": 15,  # 128-bit words in 2048 x 9 blocks, two deep
        "neurons": 11,
        "membranes": 6,
        "input_buffer": 1,
        "spike_buffer": 3,
    }


def test_board_coefficients_compose_blocks_and_block_energies():
    table = load_coefficients()
    params = board_spec("icebreaker").params
    per_block = {
        name: c["value"] for name, c in table["boards"]["icebreaker"]["coefficients"].items()
    }
    costs = board_coefficients("icebreaker", params, table)
    assert costs["weight_read_pj"] == per_block["spram_read"]
    assert costs["neuron_read_pj"] == 4 * per_block["block_ram_read"]
    assert costs["membrane_write_pj"] == 2 * per_block["block_ram_write"]
    assert costs["static_uw"] == per_block["static_power"]


def test_literature_energy_is_coefficient_times_operations():
    metrics = {
        "layers": {
            "a": {"synops_effective": 100.0, "synops_dense": 400, "ann_macs": 200},
            "b": {"synops_effective": None, "synops_dense": 40, "ann_macs": 20},
        },
        "total": {"synops_effective": None, "synops_dense": 440, "ann_macs": 220},
    }
    energy = literature_energy(metrics)
    assert energy["layers"]["a"] == pytest.approx(
        {"snn_effective": 0.09, "snn_dense": 0.36, "ann": 0.92}
    )
    assert energy["layers"]["b"]["snn_effective"] is None
    assert energy["total"]["ann"] == pytest.approx(220 * 4.6e-3)
    assert "E_AC 0.9 pJ" in format_energy(energy)


def unit_activity(scale=1.0):
    counts = {name: scale * (i + 1) for i, name in enumerate(ACTIVITY_COUNTS)}
    return {
        "sample_cycles": scale * 100,
        "layers": {"a": counts, "b": {k: 2 * v for k, v in counts.items()}},
        "other": {"outside_cycles": scale * 7},
    }


def unit_coefficients(scale=1.0):
    costs = board_coefficients("icebreaker", board_spec("icebreaker").params)
    return {key: scale * (i + 1) for i, key in enumerate(costs)}


def test_fpga_energy_by_hand():
    costs = {key: 0.0 for key in unit_coefficients()}
    costs.update(static_uw=1000.0, weight_read_pj=10.0, clock_cycle_pj=2.0)
    counts = dict.fromkeys(ACTIVITY_COUNTS, 0.0)
    counts.update(compute_cycles=50.0, weight_reads=3.0)
    act = {"sample_cycles": 60.0, "layers": {"a": counts}, "other": {"outside_cycles": 10.0}}
    energy = fpga_energy(act, costs, clock_hz=1e6)
    assert energy["kind"] == "estimate"
    a = energy["layers"]["a"]
    assert a["static"] == pytest.approx(1e-3 * 50e-6 * 1e9)  # 1 mW for 50 us: 50 nJ
    assert a["weights"] == pytest.approx(0.03)
    assert a["clock"] == pytest.approx(0.1)
    assert energy["other"]["total"] == pytest.approx(10.0 + 0.02)
    assert energy["total"]["total"] == pytest.approx(a["total"] + energy["other"]["total"])
    assert energy["time_us"] == pytest.approx(60.0)
    text = format_energy(energy)
    assert "estimate, nJ per sample (sample cycles: 60.00 us at 1.00 MHz)" in text
    rows = {line.split("  ")[0]: line.split() for line in text.splitlines()[3:]}
    assert rows["a"] == ["a", "50.0", "0.0", "0.0", "0.0", "0.0", "0.1", "50.1"]
    assert rows["outside layers"][-1] == "10.0"  # 10.02 nJ, one decimal


@pytest.mark.parametrize("factor", [0.5, 3.0])
def test_fpga_energy_is_linear_in_counts_and_coefficients(factor):
    base = fpga_energy(unit_activity(), unit_coefficients(), 1e6)
    for scaled in (
        fpga_energy(unit_activity(factor), unit_coefficients(), 1e6),
        fpga_energy(unit_activity(), unit_coefficients(factor), 1e6),
    ):
        for part in ("a", "b"):
            for key in (*COMPONENTS, "total"):
                assert scaled["layers"][part][key] == pytest.approx(
                    factor * base["layers"][part][key]
                )
        assert scaled["total"]["total"] == pytest.approx(factor * base["total"]["total"])
    # Layer b did twice layer a's work.
    assert base["layers"]["b"]["lanes"] == pytest.approx(2 * base["layers"]["a"]["lanes"])


def test_activity_needs_engine_counters():
    program, spikes = edge_programs()["one_neuron_layers"]
    with pytest.raises(ValueError, match="golden model"):
        activity(program, run_golden(program, spikes), params_for_program(program, 4))


@pytest.mark.parametrize("case", ["t1_wide_layer_not_multiple_of_lanes", "bursts_to_burst_max"])
def test_engine_counters_match_the_activity_model(case):
    """A real engine run: its counters agree with events and groups derived from the spikes."""
    program, spikes = edge_programs()[case]
    params = params_for_program(program, 4)
    result = run_amaranth(program, spikes, params=params)
    metrics = workload_metrics(program, result, spikes)  # raises if layer_events disagree
    act = activity(program, result, params)

    counts = [spikes] + [result.spikes[layer.name] for layer in program.layers[:-1]]
    synops = result.counters["layer_synops"].mean(axis=0)
    for index, layer in enumerate(program.layers):
        events = counts[index].sum(axis=(1, 2)).mean()
        groups = -(-layer.outputs // params.lanes)
        entry = act["layers"][layer.name]
        assert entry["events"] == events == metrics["layers"][layer.name]["input_events"]
        assert entry["weight_reads"] == events * groups
        assert entry["lane_adds"] == events * groups * params.lanes
        buffer = "input_buffer" if index == 0 else "spike_buffer"
        assert entry[f"{buffer}_reads"] == events * groups
        assert entry[f"{buffer}_writes"] == events
        assert entry["membrane_writes"] == program.timesteps * groups * params.slots
        # The engine counts one synaptic operation per event and valid lane.
        assert synops[index] == metrics["layers"][layer.name]["synops_effective"]
    assert act["sample_cycles"] == result.cycles.mean()
    compute = result.counters["layer_cycles"].sum(axis=1).mean()
    assert act["compute_cycles"] == compute
    assert sum(entry["compute_cycles"] for entry in act["layers"].values()) == pytest.approx(
        compute
    )
    outside = act["other"]["outside_cycles"]
    assert outside == pytest.approx(act["sample_cycles"] - compute) and outside >= 0

    costs = board_coefficients("icebreaker", board_spec("icebreaker").params)
    energy = fpga_energy(act, costs, 18e6)
    assert energy["total"]["total"] > energy["total"]["static"] > 0
    with pytest.raises(ValueError, match="lanes"):
        activity(program, result, params_for_program(program, 8))


def test_activity_rejects_counters_of_another_program():
    program, spikes = edge_programs()["one_neuron_layers"]
    params = params_for_program(program, 4)
    result = run_amaranth(program, spikes, params=params)
    wrong = copy.copy(result)
    wrong.counters = {k: np.hstack([v, v]) for k, v in result.counters.items()}
    with pytest.raises(ValueError, match="shape"):
        activity(program, wrong, params)
