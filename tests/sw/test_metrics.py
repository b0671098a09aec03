"""Workload metrics against hand-computed small runs."""

import json

import numpy as np
import pytest
from spikeloom.sw.compiler.program import Layer, Program
from spikeloom.sw.reports.metrics import format_metrics, workload_metrics
from spikeloom.sw.result import Result

# Two samples, three timesteps, three inputs.
INPUT = np.array(
    [
        [[1, 0, 1], [0, 0, 0], [1, 1, 1]],  # 5 events
        [[0, 1, 0], [0, 0, 0], [0, 0, 0]],  # 1 event
    ],
    np.uint8,
)
HIDDEN = np.array(
    [
        [[1, 0], [0, 0], [1, 1]],  # neuron 0 fires twice, neuron 1 once
        [[0, 0], [0, 1], [0, 0]],  # neuron 1 once
    ],
    np.uint8,
)


def layer(name, weight, **settings) -> Layer:
    weight = np.asarray(weight, np.int8)
    return Layer(
        name=name,
        weight=weight,
        threshold=np.ones(weight.shape[1], np.int32),
        bias=np.zeros(weight.shape[1], np.int32),
        **settings,
    )


def two_layer_program(hidden="lif", burst_max=1) -> Program:
    layers = [
        layer("h", [[1, -1], [1, 1], [-1, 1]], neuron=hidden, burst_max=burst_max),
        # 2-bit readout with one zero weight: input 0 reaches one neuron, input 1 both.
        layer("o", [[1, 0], [-2, 1]], weight_bits=2, neuron="readout", v_bits=8),
    ]
    return Program(timesteps=3, inputs=3, layers=layers).validate()


def result(hidden=HIDDEN, counters=None) -> Result:
    return Result(
        readout=np.zeros((2, 2), np.int64),
        spikes={"h": hidden},
        cycles=np.zeros(2, np.int64),
        counters=counters or {},
    )


def test_hand_computed_two_layers():
    metrics = workload_metrics(two_layer_program(), result(), INPUT)
    assert metrics["samples"] == 2 and metrics["timesteps"] == 3
    assert list(metrics["layers"]) == ["h", "o"]
    assert metrics["input"] == {"events": 3.0, "activation_sparsity": pytest.approx(2 / 3)}

    h = metrics["layers"]["h"]
    assert h["input_events"] == 3.0
    assert h["output_events"] == 2.0
    assert h["activation_sparsity"] == pytest.approx(1 - 4 / 12)
    assert h["synops_dense"] == 3 * 2 * 3
    assert h["synops_effective"] == (5 * 2 + 1 * 2) / 2
    assert h["ann_macs"] == 6
    assert h["connection_sparsity"] == 0.0
    assert h["footprint_bytes"] == {"weights": 0.75, "neuron_params": 8, "state": 4, "total": 12.75}

    o = metrics["layers"]["o"]
    assert o["input_events"] == 2.0
    assert o["output_events"] is None and o["activation_sparsity"] is None  # readout
    assert o["synops_dense"] == 2 * 2 * 3
    # Sample 0: input 0 fires twice (fan-out 1), input 1 once (fan-out 2); sample 1: input 1.
    assert o["synops_effective"] == ((2 * 1 + 1 * 2) + 1 * 2) / 2
    assert o["connection_sparsity"] == 0.25
    assert o["footprint_bytes"] == {"weights": 1, "neuron_params": 4, "state": 2, "total": 7}

    total = metrics["total"]
    assert total["synops_dense"] == 30
    assert total["synops_effective"] == 9.0
    assert total["ann_macs"] == 10
    assert total["connection_sparsity"] == pytest.approx(1 / 10)
    assert total["activation_sparsity"] == pytest.approx(2 / 3)  # spiking layers only
    assert total["footprint_bytes"]["total"] == 19.75
    json.dumps(metrics)  # plain Python numbers throughout
    table = {line.split()[0]: line.split() for line in format_metrics(metrics).splitlines()[3:]}
    # Means with one decimal, whole counts whole, ratios as percentages.
    assert table["h"] == ["h", "3x2", "3.0", "2.0", "66.7%", "18", "6.0", "6", "0.0%", "12.8"]
    assert table["o"][4] == "-" and table["o"][8] == "25.0%"
    assert table["total"][-1] == "19.8"


def test_dense_bounds_effective():
    program = two_layer_program()
    full = result(hidden=np.ones_like(HIDDEN))
    metrics = workload_metrics(program, full, np.ones_like(INPUT))
    for entry in (*metrics["layers"].values(), metrics["total"]):
        assert entry["synops_dense"] >= entry["synops_effective"]
    # Every input active every timestep and binary weights: effective reaches dense.
    assert metrics["layers"]["h"]["synops_effective"] == metrics["layers"]["h"]["synops_dense"]


def test_lifb_bursts_count_as_events():
    program = two_layer_program(hidden="lifb", burst_max=3)
    bursts = HIDDEN * np.array([3, 2], np.uint8)  # neuron 0 bursts 3, neuron 1 bursts 2
    metrics = workload_metrics(program, result(hidden=bursts), INPUT)
    h, o = metrics["layers"]["h"], metrics["layers"]["o"]
    assert h["output_events"] == (3 + 3 + 2 + 2) / 2
    assert h["activation_sparsity"] == pytest.approx(1 - 4 / 12)  # active slots, not events
    assert o["input_events"] == 5.0
    # Each event of a burst is one addition of the weight: fan-outs 1 and 2 as before.
    assert o["synops_effective"] == ((2 * 3 * 1 + 1 * 2 * 2) + 1 * 2 * 2) / 2
    # Dense counts every connection at its largest input count, so it still bounds.
    assert o["synops_dense"] == 2 * 2 * 3 * 3 >= o["synops_effective"]


def test_counters_give_layer_zero_without_input_spikes():
    counters = {"layer_events": np.array([[5, 3], [1, 1]], np.int64)}
    metrics = workload_metrics(two_layer_program(), result(counters=counters))
    assert metrics["input"] is None
    assert metrics["layers"]["h"]["input_events"] == 3.0
    assert metrics["layers"]["h"]["synops_effective"] == 3.0 * 2  # binary: events x outputs


def test_without_input_spikes_or_counters_layer_zero_is_unknown():
    metrics = workload_metrics(two_layer_program(), result())
    assert metrics["layers"]["h"]["input_events"] is None
    assert metrics["layers"]["h"]["synops_effective"] is None
    assert metrics["total"]["synops_effective"] is None
    assert metrics["layers"]["o"]["synops_effective"] == 3.0  # from h's spikes


def test_zero_weights_in_layer_zero_need_the_input_spikes():
    program = two_layer_program()
    program.layers[0] = layer("h", [[1, 0], [1, 1], [-1, 1]], weight_bits=2)
    counters = {"layer_events": np.array([[5, 3], [1, 1]], np.int64)}
    metrics = workload_metrics(program.validate(), result(counters=counters))
    assert metrics["layers"]["h"]["input_events"] == 3.0
    assert metrics["layers"]["h"]["synops_effective"] is None  # fan-out differs per input
    with_inputs = workload_metrics(program, result(counters=counters), INPUT)
    # Sample 0: inputs 0, 1, 2 fire 2, 1, 2 times with fan-outs 1, 2, 2; sample 1: input 1.
    assert with_inputs["layers"]["h"]["synops_effective"] == ((2 + 2 + 4) + 2) / 2
    assert with_inputs["layers"]["h"]["connection_sparsity"] == pytest.approx(1 / 6)


@pytest.mark.parametrize("index, wrong", [(0, [[5, 3], [2, 1]]), (1, [[5, 4], [1, 1]])])
def test_counters_that_disagree_with_the_spikes_raise(index, wrong):
    counters = {"layer_events": np.array(wrong, np.int64)}
    name = "ho"[index]
    with pytest.raises(ValueError, match=rf"layer '{name}'.*counted \d+ .*spikes give \d+"):
        workload_metrics(two_layer_program(), result(counters=counters), INPUT)


def test_shapes_that_do_not_fit_the_program_raise():
    with pytest.raises(ValueError, match="layer 'h'"):
        workload_metrics(two_layer_program(), result(hidden=HIDDEN[:, :2]))
    with pytest.raises(ValueError, match="input spikes"):
        workload_metrics(two_layer_program(), result(), INPUT[:, :, :2])
    with pytest.raises(ValueError, match="counters"):
        counters = {"layer_events": np.zeros((2, 3), np.int64)}
        workload_metrics(two_layer_program(), result(counters=counters))
