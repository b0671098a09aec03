"""Workload metrics of a Program run, counted as NeuroBench counts them (pure numpy).

`workload_metrics` returns plain Python numbers, per layer (in layer order) and in total; every
per-sample quantity is the mean over the run's samples. The conventions, each also in
docs/energy.md:

- Activation sparsity: the fraction of (neuron, timestep) slots without a spike, over the
  spiking layers (a readout layer emits none). NeuroBench counts nonzero activations, so a LIFB
  burst of c is one active slot here; for LIF layers this equals 1 - events / (neurons x T).
  The host's input spikes, when given, are reported on their own, not in the total.
- Events: spikes as the engine carries them, so a LIFB burst of c is c events.
- Synaptic operations per sample: effective = the events a layer receives times their
  nonzero fan-out, sum_t sum_i c[t, i] x #{j : W[i, j] != 0}; dense = inputs x outputs x T x M,
  every connection every timestep with M the most events one input carries (1, or the previous
  layer's burst_max), so dense >= effective. NeuroBench's effective SynOps skip zero weights as
  here but count a nonzero activation once, and its dense count has no M; the engine adds a
  weight c times for a burst of c, so both counts follow the engine. Without bursts (M = 1)
  they are NeuroBench's. Binary weights are never zero.
- ANN MACs: sum of inputs x outputs, once per inference (the equivalent non-spiking network).
- Footprint: the Program's own widths, packed without padding: weights inputs x outputs x
  weight_bits bits, neuron parameters (threshold and bias) 2 x v_bits bits per neuron, state
  one v_bits membrane per neuron. Bits / 8, so a byte count may be fractional. The engine's
  memories are wider (they hold its maximum widths), which is not counted here.
- Connection sparsity: the fraction of weights that are zero.

A hardware Result's `layer_events` counter must equal the events derived here from the spikes
(layer 0's only when the input spikes are given); a mismatch means the result and the Program
do not belong together, and raises ValueError.
"""

import numpy as np
from spikeloom.sw.compiler.program import Program
from spikeloom.sw.reports.table import format_table, number
from spikeloom.sw.result import Result

__all__ = [
    "layer_inputs",
    "dense_synops",
    "ann_macs",
    "footprint",
    "connection_sparsity",
    "workload_metrics",
    "metrics_table",
    "format_metrics",
]


def layer_inputs(program: Program, result: Result, input_spikes=None) -> list[np.ndarray | None]:
    """Each layer's input counts, uint8 [samples, T, inputs]: the input spikes for layer 0
    (None when not given), the previous layer's spike counts for the others."""
    shape = (_samples(result), program.timesteps)
    inputs: list[np.ndarray | None] = []
    if input_spikes is None:
        inputs.append(None)
    else:
        input_spikes = np.asarray(input_spikes)
        if input_spikes.shape != (*shape, program.inputs):
            raise ValueError(
                f"input spikes have shape {input_spikes.shape}, expected "
                f"{(*shape, program.inputs)} for this result and Program"
            )
        inputs.append(input_spikes)
    spikes = _layer_spikes(program, result)
    inputs += [spikes[layer.name] for layer in program.layers[:-1]]
    return inputs


def dense_synops(program: Program) -> dict[str, int]:
    """Synaptic operations per sample if every connection worked every timestep, each input
    carrying the most events it can (1, or the previous layer's burst_max)."""
    return {
        layer.name: layer.inputs * layer.outputs * program.timesteps * count
        for layer, count in zip(program.layers, program.layer_input_counts(), strict=True)
    }


def ann_macs(program: Program) -> dict[str, int]:
    """Multiply-accumulates of the equivalent non-spiking network, per inference."""
    return {layer.name: layer.inputs * layer.outputs for layer in program.layers}


def footprint(program: Program) -> dict[str, dict[str, float]]:
    """Bytes per layer: weights, neuron parameters, state and their total (see the module)."""
    out = {}
    for layer in program.layers:
        parts = {
            "weights": layer.inputs * layer.outputs * layer.weight_bits / 8,
            "neuron_params": layer.outputs * 2 * layer.v_bits / 8,
            "state": layer.outputs * layer.v_bits / 8,
        }
        out[layer.name] = {**parts, "total": sum(parts.values())}
    return out


def connection_sparsity(program: Program) -> dict[str, float]:
    """Fraction of zero weights per layer (0 for binary weights)."""
    return {layer.name: float(np.mean(layer.weight == 0)) for layer in program.layers}


def workload_metrics(program: Program, result: Result, input_spikes=None) -> dict:
    """Every metric of the module for one run; see the module docstring for the conventions.

    Returns `{"samples", "timesteps", "layers": {name: {...}}, "input", "total"}`. A layer
    holds `inputs, outputs, neuron, weight_bits, input_events, output_events,
    activation_sparsity, synops_dense, synops_effective, ann_macs, connection_sparsity,
    footprint_bytes`; `input` holds `events, activation_sparsity` (None without input spikes);
    `total` sums or pools the layers. A value that needs the input spikes and cannot be had
    from the engine's counters instead is None.
    """
    samples = _samples(result)
    inputs = layer_inputs(program, result, input_spikes)
    outputs = _layer_spikes(program, result)
    counted = _counted_events(program, result)
    _check_events(program, inputs, counted)
    dense, macs = dense_synops(program), ann_macs(program)
    sizes, zeros = footprint(program), connection_sparsity(program)

    layers = {}
    for index, layer in enumerate(program.layers):
        counts = inputs[index]
        nonzero = (layer.weight != 0).sum(axis=1).astype(np.int64)  # fan-out of each input
        if counts is not None:
            per_input = counts.sum(axis=1, dtype=np.int64)  # [samples, inputs]
            input_events = float(per_input.sum() / samples)
            effective = float((per_input @ nonzero).sum() / samples)
        elif counted is not None:
            # Without the input spikes, the engine's own event count still gives the events,
            # and the synaptic operations too when no weight is zero.
            input_events = float(counted[:, index].mean())
            full = bool((nonzero == layer.outputs).all())
            effective = input_events * layer.outputs if full else None
        else:
            input_events = effective = None
        spikes = outputs.get(layer.name)
        layers[layer.name] = {
            "inputs": layer.inputs,
            "outputs": layer.outputs,
            "neuron": layer.neuron,
            "weight_bits": layer.weight_bits,
            "input_events": input_events,
            "output_events": None if spikes is None else _events(spikes) / samples,
            "activation_sparsity": None if spikes is None else _sparsity(spikes),
            "synops_dense": dense[layer.name],
            "synops_effective": effective,
            "ann_macs": macs[layer.name],
            "connection_sparsity": zeros[layer.name],
            "footprint_bytes": sizes[layer.name],
        }

    spiking = list(outputs.values())
    slots = sum(s.size for s in spiking)
    active = sum(int(np.count_nonzero(s)) for s in spiking)
    weights = sum(layer.weight.size for layer in program.layers)
    effective = [entry["synops_effective"] for entry in layers.values()]
    total = {
        "output_events": sum(_events(s) for s in spiking) / samples if spiking else None,
        "activation_sparsity": 1 - active / slots if slots else None,
        "synops_dense": sum(dense.values()),
        "synops_effective": None if None in effective else sum(effective),
        "ann_macs": sum(macs.values()),
        "connection_sparsity": sum(int((layer.weight == 0).sum()) for layer in program.layers)
        / weights,
        "footprint_bytes": {
            key: sum(entry[key] for entry in sizes.values())
            for key in ("weights", "neuron_params", "state", "total")
        },
    }
    host = inputs[0]
    return {
        "samples": samples,
        "timesteps": program.timesteps,
        "layers": layers,
        "input": None
        if host is None
        else {"events": _events(host) / samples, "activation_sparsity": _sparsity(host)},
        "total": total,
    }


def metrics_table(metrics: dict) -> tuple[str, list[str], list[list]]:
    """`(title, headers, rows)` of `workload_metrics`' per-layer figures: what
    `format_metrics` prints and the run report writes."""
    rows = []
    if metrics["input"] is not None:
        host = metrics["input"]
        rows.append(
            ["(input)", None, None, number(host["events"], "count")]
            + [number(host["activation_sparsity"], "%")]
            + [None] * 5
        )
    for name, m in [*metrics["layers"].items(), ("total", metrics["total"])]:
        rows.append(
            [
                name,
                f"{m['inputs']}x{m['outputs']}" if "inputs" in m else None,
                number(m.get("input_events"), "count"),
                number(m["output_events"], "count"),
                number(m["activation_sparsity"], "%"),
                number(m["synops_dense"], "count"),
                number(m["synops_effective"], "count"),
                number(m["ann_macs"], "count"),
                number(m["connection_sparsity"], "%"),
                number(m["footprint_bytes"]["total"], "bytes"),
            ]
        )
    headers = [
        "layer",
        "shape",
        "events in",
        "events out",
        "act. sparsity",
        "synops dense",
        "synops eff.",
        "ANN MACs",
        "conn. sparsity",
        "bytes",
    ]
    samples = number(metrics["samples"], "count")
    title = f"Workload per sample (mean of {samples}, T={metrics['timesteps']})"
    return title, headers, rows


def format_metrics(metrics: dict) -> str:
    """The per-layer metrics of `workload_metrics` as a text table."""
    title, headers, rows = metrics_table(metrics)
    return format_table(headers, rows, title)


def _samples(result: Result) -> int:
    samples = int(result.readout.shape[0])
    if samples == 0:
        raise ValueError("the result holds no samples")
    return samples


def _layer_spikes(program: Program, result: Result) -> dict[str, np.ndarray]:
    """The spike counts of every spiking layer, checked against the Program's shapes."""
    shape = (_samples(result), program.timesteps)
    spikes = {}
    for layer in program.layers:
        if not layer.spiking:
            continue
        counts = result.spikes.get(layer.name)
        if counts is None:
            raise ValueError(f"result has no spikes for layer {layer.name!r}")
        if counts.shape != (*shape, layer.outputs):
            raise ValueError(
                f"layer {layer.name!r}: result spikes have shape {counts.shape}, expected "
                f"{(*shape, layer.outputs)} for this Program"
            )
        spikes[layer.name] = counts
    return spikes


def _events(counts: np.ndarray) -> int:
    return int(counts.sum(dtype=np.int64))


def _sparsity(counts: np.ndarray) -> float:
    return 1 - np.count_nonzero(counts) / counts.size


def _counted_events(program: Program, result: Result) -> np.ndarray | None:
    """The engine's per-sample input-event counts [samples, layers], if the result has them."""
    counted = result.counters.get("layer_events")
    if counted is None:
        return None
    expected = (_samples(result), len(program.layers))
    if counted.shape != expected:
        raise ValueError(
            f"counters['layer_events'] has shape {counted.shape}, expected {expected} for this "
            "result and Program"
        )
    return counted


def _check_events(program: Program, inputs: list, counted: np.ndarray | None) -> None:
    """The engine counts each layer's input events exactly: they must match the spikes."""
    if counted is None:
        return
    for index, (layer, counts) in enumerate(zip(program.layers, inputs, strict=True)):
        if counts is None:
            continue
        derived = counts.sum(axis=(1, 2), dtype=np.int64)
        bad = np.flatnonzero(derived != counted[:, index])
        if bad.size:
            s = int(bad[0])
            raise ValueError(
                f"layer {layer.name!r}: the engine counted {int(counted[s, index])} input events "
                f"in sample {s} but the spikes give {int(derived[s])}; the result does not "
                "belong to this Program (or these input spikes)"
            )
