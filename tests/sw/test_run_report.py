"""`spikeloom report`: a board run's latency, energy and metrics, in JSON, Markdown and plots.

The runs go through the simulated iCEBreaker (its exact engine under Verilator, UART included),
so the counters, the link's bytes and the clock are what a board returns. SPIKELOOM_SEED sets the
random Programs; it is printed for replay.
"""

import json
import os

import numpy as np
import pytest
from spikeloom.boards import board_spec
from spikeloom.sim.cocotb_backend import simulator_missing
from spikeloom.sw.cli import main
from spikeloom.sw.compiler.fit import check_fits
from spikeloom.sw.compiler.golden import run_golden
from spikeloom.sw.compiler.program import Layer, Program, save_program
from spikeloom.sw.compiler.random_program import random_spikes
from spikeloom.sw.reports import plots
from spikeloom.sw.reports.energy import OUTSIDE_LAYERS

SEED = int(os.environ.get("SPIKELOOM_SEED", "7"))
PNG = b"\x89PNG\r\n\x1a\n"


def _program(rng) -> Program:
    """A small two-layer Program that fits the iCEBreaker: LIF hidden layer, readout."""
    hidden, inputs, outputs = 40, 24, 5

    def binary(rows, cols):
        return np.where(rng.random((rows, cols)) < 0.5, 1, -1).astype(np.int8)

    program = Program(
        timesteps=3,
        inputs=inputs,
        layers=[
            Layer(
                "hidden",
                binary(inputs, hidden),
                rng.integers(1, 4, hidden).astype(np.int32),
                rng.integers(-1, 2, hidden).astype(np.int32),
                leak_shift=1,
                reset="subtract",
            ),
            Layer(
                "out",
                binary(hidden, outputs),
                np.ones(outputs, np.int32),
                np.zeros(outputs, np.int32),
                neuron="readout",
            ),
        ],
    ).validate()
    assert check_fits(program, board_spec("icebreaker").params)[0]
    return program


@pytest.fixture(scope="module")
def board_run(tmp_path_factory):
    """One Program run on the simulated iCEBreaker: its folder, Program, inputs and result."""
    missing = simulator_missing("verilator")
    if missing:
        pytest.skip(missing)
    folder = tmp_path_factory.mktemp("report")
    rng = np.random.default_rng(SEED + 70)
    print(f"SPIKELOOM_SEED={SEED}")
    program = _program(rng)
    spikes = random_spikes(rng, program, 3)
    save_program(program, folder / "program")
    np.save(folder / "x.npy", spikes)
    np.save(folder / "y.npy", np.arange(3) % program.outputs)
    argv = ["run", str(folder / "program"), "--board", "sim:icebreaker"]
    assert main([*argv, "--input", str(folder / "x.npy"), "--out", str(folder / "r.npz")]) == 0
    return folder, program, spikes


def _report(folder, *extra) -> int:
    argv = ["report", str(folder / "r.npz"), "--program", str(folder / "program")]
    return main([*argv, "--board", "icebreaker", *extra])


def test_a_board_run_gives_json_markdown_and_plots(board_run, capsys):
    folder, program, spikes = board_run
    out = folder / "full"
    assert (
        _report(
            folder,
            "--input",
            str(folder / "x.npy"),
            "--labels",
            str(folder / "y.npy"),
            "--out",
            str(out),
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "compute latency" in printed and "FPGA energy" in printed
    # The two cycle counts, each by its one name.
    assert "compute cycles (measured)" in printed and "sample cycles (measured)" in printed
    report = json.loads((out / "report.json").read_text())
    with np.load(folder / "r.npz") as result:
        layer_cycles = result["counters.layer_cycles"]
        link_bytes = result["link_bytes"]
        assert int(result["clock_hz"]) == 24_000_000

    latency = report["latency"]
    assert latency["clock_mhz"] == 24.0
    assert latency["compute_cycles"] == pytest.approx(layer_cycles.sum(axis=1).mean())
    assert latency["compute_us"] == pytest.approx(layer_cycles.sum(axis=1).mean() / 24)
    assert latency["sample_cycles"] >= latency["compute_cycles"]
    per_layer = [entry["compute_cycles"] for entry in latency["layers"].values()]
    assert sum(per_layer) == pytest.approx(latency["compute_cycles"])
    link = latency["link"]
    assert link["baud"] == 3_000_000
    assert link["bytes_sent"] == pytest.approx(link_bytes[:, 0].mean())
    # The simulated line carries every byte: a sample takes at least its bytes' line time, and
    # more than its compute.
    assert link["sample_us"] >= link["line_us"] > 0
    assert link["sample_us"] > latency["compute_us"]

    fpga = report["energy"]["fpga"]
    assert fpga["kind"] == "estimate"
    assert 0 < fpga["compute_nj"] < fpga["total"]["total"]
    assert fpga["activity"]["sample_cycles"] == pytest.approx(latency["sample_cycles"])
    # The energy plot's bars, the layers' and the one outside them, add up to the total.
    bars = plots.energy_bar_values(fpga)
    assert OUTSIDE_LAYERS in bars
    plotted = sum(sum(parts.values()) for parts in bars.values())
    assert plotted == pytest.approx(fpga["total"]["total"])
    assert report["matches_golden"] is True
    golden = run_golden(program, spikes)
    assert report["accuracy"] == pytest.approx(np.mean(golden.predictions == np.arange(3) % 5))
    hidden = report["metrics"]["layers"]["hidden"]
    assert hidden["input_events"] == pytest.approx(spikes.sum() / len(spikes))
    assert hidden["synops_effective"] == pytest.approx(spikes.sum() / len(spikes) * 40)

    markdown = (out / "report.md").read_text()
    for name in ("raster", "membranes", "compute_cycles", "energy", "sparsity"):
        assert (out / f"{name}.png").read_bytes()[:8] == PNG, name
        assert f"({name}.png)" in markdown


def test_without_inputs_the_report_plots_what_the_run_recorded(board_run):
    folder, _, _ = board_run
    out = folder / "bare"
    assert _report(folder, "--out", str(out)) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["matches_golden"] is None and report["accuracy"] is None
    assert not (out / "membranes.png").exists()  # traces need the golden model, so the input
    assert (out / "raster.png").exists() and (out / "energy.png").exists()


def test_a_golden_result_has_no_latency_and_says_so(board_run, capsys):
    folder, _, _ = board_run
    argv = ["sim", str(folder / "program"), "--input", str(folder / "x.npy")]
    assert main([*argv, "--out", str(folder / "g.npz")]) == 0
    out = folder / "golden"
    argv = ["report", str(folder / "g.npz"), "--program", str(folder / "program")]
    assert main([*argv, "--board", "icebreaker", "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["latency"] is None and report["energy"]["fpga"] is None
    assert any("no engine counters" in note for note in report["notes"])
    assert report["energy"]["literature"]["total"]["ann"] > 0


def test_a_run_on_another_engine_is_refused_with_the_fix(board_run, capsys):
    folder, _, _ = board_run
    # The same result claimed for the ULX3S: its engine has other sizes.
    assert (
        main(
            [
                "report",
                str(folder / "r.npz"),
                "--program",
                str(folder / "program"),
                "--board",
                "ulx3s-85f",
                "--out",
                str(folder / "wrong"),
            ]
        )
        == 1
    )
    assert "sim:ulx3s-85f" in capsys.readouterr().err


def test_bad_inputs_end_in_one_line(board_run, tmp_path, capsys):
    folder, _, _ = board_run
    assert _report(folder, "--build", str(tmp_path / "nothing.json")) == 1
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "other.json").write_text(json.dumps({"board": "ulx3s-85f", "clock_mhz": 30}))
    assert _report(folder, "--build", str(tmp_path / "other.json")) == 1
    assert "not 'icebreaker'" in capsys.readouterr().err
    spikes = ["--input", str(folder / "x.npy")]
    assert _report(folder, *spikes, "--neurons", "nope:1", "--out", str(tmp_path / "n")) == 1
    assert "nope" in capsys.readouterr().err
    assert _report(folder, "--sample", "9", "--out", str(tmp_path / "s")) == 1
    assert "--sample 9" in capsys.readouterr().err
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    argv = ["report", str(tmp_path / "junk.npz"), "--program", str(folder / "program")]
    assert main([*argv, "--board", "icebreaker"]) == 1
    assert "not a result file" in capsys.readouterr().err
