"""Energy of a Program run: the SNN literature's convention, and an FPGA estimate per board.

Two models, both per sample (the mean over a run's samples), in nanojoules; docs/energy.md
gives every formula and every coefficient's source:

- `literature_energy`: E_AC x synaptic operations for the SNN, E_MAC x MACs for the equivalent
  non-spiking network, the per-operation convention of SNN papers (Horowitz's 45 nm figures).
  It counts arithmetic only, no memory access.
- `fpga_energy`: an estimate for the engine on a board: static power x compute time, plus
  dynamic energy per weight word read, membrane and threshold/bias word access, event-buffer
  access, lane add and clock cycle. The counts come from `activity`, which reads a hardware
  Result's counters and the engine's structure (`hw.params.EngineParams`); the per-action
  energies from `board_coefficients`, which composes the per-block figures of `energy.yaml`
  with the blocks each word spans in the board's build.

The coefficients live in `energy.yaml`, each with its value, unit, source and kind (quoted,
derived or estimate); `load_coefficients` refuses a file where any of that is missing.
"""

import math
from numbers import Real
from pathlib import Path

import numpy as np
import yaml
from spikeloom.hw.layout import neuron_word_bits, weight_word_bits
from spikeloom.hw.params import EngineParams
from spikeloom.sw.compiler.program import Program
from spikeloom.sw.reports.table import format_table, number
from spikeloom.sw.result import Result

__all__ = [
    "COEFFICIENTS_FILE",
    "COMPONENTS",
    "ACTIVITY_COUNTS",
    "OUTSIDE_LAYERS",
    "load_coefficients",
    "literature_energy",
    "memory_blocks",
    "board_coefficients",
    "activity",
    "fpga_energy",
    "energy_table",
    "format_energy",
]

COEFFICIENTS_FILE = Path(__file__).with_name("energy.yaml")
FORMAT = "spikeloom.energy/1"
KINDS = ("quoted", "derived", "estimate")
#: What the FPGA estimate's energy is split into.
COMPONENTS = ("static", "weights", "neuron_memory", "event_buffers", "lanes", "clock")
#: How tables and plots name the part outside the layers (`other`): sample cycles - compute
#: cycles, while the engine waits for input (on a board, for the link) or ends a timestep or
#: a sample.
OUTSIDE_LAYERS = "outside layers"

#: Unit of every coefficient `energy.yaml` must give (a mismatch is refused, not converted).
_UNITS = {
    "add": "pJ",
    "mac": "pJ",
    "static_power": "uW",
    "clock_cycle": "pJ",
    "lane_add": "pJ",
    "spram_read": "pJ",
    "block_ram_read": "pJ",
    "block_ram_write": "pJ",
}
_BOARD_KEYS = ("static_power", "clock_cycle", "lane_add", "block_ram_read", "block_ram_write")
#: Activity counts, the per-action energy (pJ) each is charged, and the component it joins.
_CHARGES = (
    ("weight_reads", "weight_read_pj", "weights"),
    ("neuron_reads", "neuron_read_pj", "neuron_memory"),
    ("membrane_reads", "membrane_read_pj", "neuron_memory"),
    ("membrane_writes", "membrane_write_pj", "neuron_memory"),
    ("input_buffer_reads", "input_buffer_read_pj", "event_buffers"),
    ("input_buffer_writes", "input_buffer_write_pj", "event_buffers"),
    ("spike_buffer_reads", "spike_buffer_read_pj", "event_buffers"),
    ("spike_buffer_writes", "spike_buffer_write_pj", "event_buffers"),
    ("lane_adds", "lane_add_pj", "lanes"),
)
#: The counts `activity` gives each layer and `fpga_energy` charges: the layer's compute cycles
#: (static power and the clock for each) and its accesses and adds.
ACTIVITY_COUNTS = ("compute_cycles", *(count for count, _, _ in _CHARGES))


# --- coefficients ---------------------------------------------------------------------------


def load_coefficients(path: str | Path | None = None) -> dict:
    """Read and validate `energy.yaml` (or `path`); ValueError naming what is malformed."""
    path = Path(path) if path is not None else COEFFICIENTS_FILE
    try:
        table = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: not valid YAML ({error})".splitlines()[0]) from None
    if not isinstance(table, dict) or table.get("format") != FORMAT:
        raise ValueError(f"{path}: not a {FORMAT} file")
    for key in ("literature", "boards"):
        if not isinstance(table.get(key), dict):
            raise ValueError(f"{path}: missing mapping {key!r}")
    for name in ("add", "mac"):
        _check_coefficient(table["literature"].get(name), f"literature.{name}", name)
    for board, entry in table["boards"].items():
        where = f"boards.{board}"
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: expected a mapping")
        _check_shapes(entry.get("block_ram"), f"{where}.block_ram")
        store = entry.get("weight_store")
        if not isinstance(store, dict) or store.get("memory") not in ("spram", "block_ram"):
            raise ValueError(f"{where}.weight_store: memory must be 'spram' or 'block_ram'")
        required = _BOARD_KEYS
        if store["memory"] == "spram":
            _check_shape(store.get("shape"), f"{where}.weight_store.shape")
            required += ("spram_read",)
        coefficients = entry.get("coefficients")
        if not isinstance(coefficients, dict):
            raise ValueError(f"{where}: missing mapping 'coefficients'")
        for name in required:
            _check_coefficient(coefficients.get(name), f"{where}.coefficients.{name}", name)
    return table


def _check_coefficient(entry, where: str, name: str) -> None:
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: missing (expected value, unit, kind, source)")
    for key in ("value", "unit", "kind", "source"):
        if entry.get(key) in (None, ""):
            raise ValueError(f"{where}: missing {key!r}")
    value = entry["value"]
    if isinstance(value, bool) or not isinstance(value, Real) or value < 0:
        raise ValueError(f"{where}: value {value!r} is not a non-negative number")
    if entry["unit"] != _UNITS[name]:
        raise ValueError(f"{where}: unit {entry['unit']!r}, expected {_UNITS[name]!r}")
    if entry["kind"] not in KINDS:
        raise ValueError(f"{where}: kind {entry['kind']!r} is not one of {KINDS}")
    if entry["kind"] != "quoted" and not entry.get("basis"):
        # A derived value shows its arithmetic, an estimate its reasoning.
        raise ValueError(f"{where}: a {entry['kind']} coefficient needs a 'basis'")


def _check_shapes(entry, where: str) -> None:
    if not isinstance(entry, dict) or not entry.get("source"):
        raise ValueError(f"{where}: expected shapes and a source")
    shapes = entry.get("shapes")
    if not isinstance(shapes, list) or not shapes:
        raise ValueError(f"{where}: shapes must be a list of [depth, width]")
    for shape in shapes:
        _check_shape(shape, where)


def _check_shape(shape, where: str) -> None:
    ok = isinstance(shape, list) and len(shape) == 2
    if not ok or not all(isinstance(n, int) and n >= 1 for n in shape):
        raise ValueError(f"{where}: {shape!r} is not a [depth, width] pair of positive integers")


def _board(table: dict, board: str) -> dict:
    if board not in table["boards"]:
        known = ", ".join(table["boards"])
        raise ValueError(f"no energy coefficients for board {board!r}: known boards are {known}")
    return table["boards"][board]


def _value(entry: dict, name: str) -> float:
    return float(entry["coefficients"][name]["value"])


# --- the literature convention --------------------------------------------------------------


def literature_energy(metrics: dict, table: dict | None = None) -> dict:
    """E_AC x synaptic operations (SNN) and E_MAC x MACs (equivalent ANN), from the output of
    `sw.reports.metrics.workload_metrics`.

    Returns `{"kind", "unit", "e_ac_pj", "e_mac_pj", "layers": {name: {"snn_effective",
    "snn_dense", "ann"}}, "total": {...}}` in nJ per sample; `snn_effective` is None where the
    metrics could not count effective synaptic operations.
    """
    table = table or load_coefficients()
    e_ac = float(table["literature"]["add"]["value"])
    e_mac = float(table["literature"]["mac"]["value"])

    def energies(entry):
        effective = entry["synops_effective"]
        return {
            "snn_effective": None if effective is None else effective * e_ac * 1e-3,
            "snn_dense": entry["synops_dense"] * e_ac * 1e-3,
            "ann": entry["ann_macs"] * e_mac * 1e-3,
        }

    return {
        "kind": "literature convention (arithmetic only, 45 nm)",
        "unit": "nJ per sample",
        "e_ac_pj": e_ac,
        "e_mac_pj": e_mac,
        "layers": {name: energies(entry) for name, entry in metrics["layers"].items()},
        "total": energies(metrics["total"]),
    }


# --- the FPGA estimate ----------------------------------------------------------------------


def memory_blocks(board: str, params: EngineParams, table: dict | None = None) -> dict:
    """Physical memory blocks one word access of each engine memory touches on `board`.

    Each memory takes the block shape that needs the fewest blocks (on a tie the deeper one),
    the choice Yosys made in both boards' builds; an access reads the blocks side by side that
    hold its word, not those stacked for depth. Returns counts for `weights`, `neurons`
    (threshold/bias), `membranes`, `input_buffer` and `spike_buffer`.
    """
    entry = _board(table or load_coefficients(), board)
    shapes = [tuple(shape) for shape in entry["block_ram"]["shapes"]]
    store = entry["weight_store"]
    weight_shapes = [tuple(store["shape"])] if store["memory"] == "spram" else shapes
    memories = {
        "weights": (weight_word_bits(params), params.weight_words, weight_shapes),
        "neurons": (neuron_word_bits(params), params.neuron_words, shapes),
        "membranes": (params.units * params.max_v_bits, params.neuron_words, shapes),
        "input_buffer": (params.address_bits, params.max_inputs, shapes),
        "spike_buffer": (params.address_bits, params.spike_depth, shapes),
    }
    return {name: _side_by_side(*memory) for name, memory in memories.items()}


def _side_by_side(width: int, depth: int, shapes: list[tuple[int, int]]) -> int:
    def total(shape):
        d, w = shape
        return math.ceil(depth / d) * math.ceil(width / w), -d

    _, best_width = min(shapes, key=total)
    return math.ceil(width / best_width)


def board_coefficients(board: str, params: EngineParams, table: dict | None = None) -> dict:
    """Per-action energies (pJ) and static power (uW) of the engine `params` on `board`: the
    `coefficients` argument of `fpga_energy`."""
    table = table or load_coefficients()
    entry = _board(table, board)
    blocks = memory_blocks(board, params, table)
    read, write = _value(entry, "block_ram_read"), _value(entry, "block_ram_write")
    weight_block = (
        _value(entry, "spram_read") if entry["weight_store"]["memory"] == "spram" else read
    )
    return {
        "static_uw": _value(entry, "static_power"),
        "clock_cycle_pj": _value(entry, "clock_cycle"),
        "lane_add_pj": _value(entry, "lane_add"),
        "weight_read_pj": blocks["weights"] * weight_block,
        "neuron_read_pj": blocks["neurons"] * read,
        "membrane_read_pj": blocks["membranes"] * read,
        "membrane_write_pj": blocks["membranes"] * write,
        "input_buffer_read_pj": blocks["input_buffer"] * read,
        "input_buffer_write_pj": blocks["input_buffer"] * write,
        "spike_buffer_read_pj": blocks["spike_buffer"] * read,
        "spike_buffer_write_pj": blocks["spike_buffer"] * write,
    }


def activity(program: Program, result: Result, params: EngineParams) -> dict:
    """What the engine did per sample (mean over samples), from a hardware Result's counters.

    Per layer and timestep the engine replays the layer's input events once per group of
    `lanes` neurons (one event-buffer read and one weight word read per event and group, all
    lanes adding), then sweeps each group's `slots` membrane words (one read and one write
    each, and one threshold/bias word read). A layer's input events are written once into its
    event buffer: the input buffer for layer 0 (by the receiver), a spike buffer for the others
    (by the previous layer's emitter). A readout layer's membranes are read once more for the
    readout. Returns `{"samples", "timesteps", "lanes", "sample_cycles", "compute_cycles",
    "layers": {name: counts}, "other": {"outside_cycles"}}`: compute cycles are the layers'
    (`layer_cycles`, summed), sample cycles the engine's `cycles` counter (from a sample's
    first input to its end), and `other` the cycles outside every layer, sample cycles -
    compute cycles (waiting for input, on a board for the link; timestep and sample ends; the
    readout).
    """
    for name in ("layer_cycles", "layer_events"):
        if name not in result.counters:
            raise ValueError(
                f"the result has no {name!r} counter (the golden model records none): "
                "the FPGA estimate needs a hardware backend's run"
            )
    if result.lanes is not None and result.lanes != params.lanes:
        raise ValueError(
            f"the result ran on {result.lanes} lanes but the engine described has {params.lanes}"
        )
    # Results that record their engine's sizes must have run on the engine described.
    recorded = getattr(result, "params", None)
    if recorded is not None and recorded != params.as_dict():
        raise ValueError(
            f"the result ran on the engine {recorded}, not on the one described, {params.as_dict()}"
        )
    samples = int(result.cycles.shape[0])
    layer_cycles, layer_events = result.counters["layer_cycles"], result.counters["layer_events"]
    expected = (samples, len(program.layers))
    for name, counter in (("layer_cycles", layer_cycles), ("layer_events", layer_events)):
        if samples == 0 or counter.shape != expected:
            raise ValueError(
                f"counters[{name!r}] has shape {counter.shape}, expected {expected} for this "
                "result and Program"
            )

    steps, slots, lanes = program.timesteps, params.slots, params.lanes
    layers = {}
    for index, layer in enumerate(program.layers):
        events = float(layer_events[:, index].mean())
        groups = params.groups(layer.outputs)
        sweeps = steps * groups * slots
        buffer = "input_buffer" if index == 0 else "spike_buffer"
        counts = dict.fromkeys(ACTIVITY_COUNTS, 0.0)
        counts.update(
            {
                "compute_cycles": float(layer_cycles[:, index].mean()),
                "weight_reads": events * groups,
                "lane_adds": events * groups * lanes,
                f"{buffer}_reads": events * groups,
                f"{buffer}_writes": events,
                "neuron_reads": float(sweeps),
                "membrane_reads": float(sweeps),
                "membrane_writes": float(sweeps),
            }
        )
        if not layer.spiking:
            counts["membrane_reads"] += math.ceil(layer.outputs / params.units)
        layers[layer.name] = {"events": events, "groups": groups, **counts}
    sample_cycles = float(result.cycles.mean())
    compute_cycles = float(np.sum(layer_cycles, axis=1).mean())
    return {
        "samples": samples,
        "timesteps": steps,
        "lanes": lanes,
        "sample_cycles": sample_cycles,
        "compute_cycles": compute_cycles,
        "layers": layers,
        "other": {"outside_cycles": sample_cycles - compute_cycles},
    }


def fpga_energy(activity: dict, coefficients: dict, clock_hz: float) -> dict:
    """The estimated energy of `activity` (from `activity`) with per-action `coefficients`
    (from `board_coefficients`) at `clock_hz`, split into COMPONENTS.

    Each part (a layer, or `other`: the cycles outside the layers) pays static power and the
    clock for each of its cycles (a layer's compute cycles, `other`'s outside cycles), time =
    cycles / clock_hz. Returns `{"kind": "estimate", "unit", "clock_hz", "time_us",
    "power_mw", "layers": {name: {component..., "total"}}, "other": {...}, "total": {...}}` in
    nJ per sample; `time_us` is the sample cycles at `clock_hz` and `power_mw` the total over
    that time.
    """
    if clock_hz <= 0:
        raise ValueError(f"clock_hz must be positive, got {clock_hz}")

    def energies(counts: dict, cycles: float) -> dict:
        parts = dict.fromkeys(COMPONENTS, 0.0)
        parts["static"] = coefficients["static_uw"] * 1e-6 * cycles / clock_hz * 1e9
        parts["clock"] = cycles * coefficients["clock_cycle_pj"] * 1e-3
        for count, energy, component in _CHARGES:
            parts[component] += counts.get(count, 0.0) * coefficients[energy] * 1e-3
        return {**parts, "total": sum(parts.values())}

    layers = {
        name: energies(counts, counts["compute_cycles"])
        for name, counts in activity["layers"].items()
    }
    other = energies(activity["other"], activity["other"]["outside_cycles"])
    total = {
        key: sum(part[key] for part in (*layers.values(), other)) for key in (*COMPONENTS, "total")
    }
    time_s = activity["sample_cycles"] / clock_hz
    return {
        "kind": "estimate",
        "unit": "nJ per sample",
        "clock_hz": float(clock_hz),
        "time_us": time_s * 1e6,
        "power_mw": total["total"] * 1e-9 / time_s * 1e3 if time_s > 0 else None,
        "layers": layers,
        "other": other,
        "total": total,
    }


def energy_table(energy: dict) -> tuple[str, list[str], list[list]]:
    """`(title, headers, rows)` of `fpga_energy`'s or `literature_energy`'s result, in nJ per
    sample: what `format_energy` prints and the run report writes."""
    if energy.get("kind") == "estimate":
        headers = ["part", *COMPONENTS, "total"]
        parts = {**energy["layers"], OUTSIDE_LAYERS: energy["other"], "total": energy["total"]}
        rows = [
            [name, *(number(part[key], "nJ") for key in (*COMPONENTS, "total"))]
            for name, part in parts.items()
        ]
        title = (
            f"FPGA energy estimate, nJ per sample (sample cycles: "
            f"{number(energy['time_us'], 'us', suffix=True)} at "
            f"{number(energy['clock_hz'] / 1e6, 'MHz', suffix=True)})"
        )
        return title, headers, rows
    headers = ["layer", "SNN effective", "SNN dense", "ANN"]
    parts = {**energy["layers"], "total": energy["total"]}
    rows = [
        [name, *(number(p[key], "nJ") for key in ("snn_effective", "snn_dense", "ann"))]
        for name, p in parts.items()
    ]
    title = (
        f"Literature convention, nJ per sample (E_AC {number(energy['e_ac_pj'], 'pJ', suffix=True)}"
        f", E_MAC {number(energy['e_mac_pj'], 'pJ', suffix=True)})"
    )
    return title, headers, rows


def format_energy(energy: dict) -> str:
    """A text table of `fpga_energy`'s or `literature_energy`'s result."""
    title, headers, rows = energy_table(energy)
    return format_table(headers, rows, title)
