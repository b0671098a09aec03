"""Graph models through the command line: train, info, compile, encode, sim, eval and report a
Mixer-SNN, and the options that do not apply to a graph model refused."""

import json

import numpy as np
import pytest
from spikeloom.sw.cli import main
from spikeloom.sw.compiler.graph import load_graph
from spikeloom.sw.compiler.graph_golden import run_graph_golden
from spikeloom.sw.result import load_result

TINY = ["--channels", "4", "--blocks", "1", "--epochs", "2", "--quiet"]


@pytest.fixture(scope="module")
def mixer(tmp_path_factory):
    """A tiny Mixer-SNN trained, compiled and encoded through the command line."""
    folder = tmp_path_factory.mktemp("mixer")
    assert main(["train", "--model", "mixer", *TINY, "--out", str(folder / "m.pt")]) == 0
    assert main(["compile", str(folder / "m.pt"), "--out", str(folder / "program")]) == 0
    argv = ["encode", str(folder / "program"), "--out", str(folder / "x.npy")]
    assert main([*argv, "--labels", str(folder / "y.npy")]) == 0
    return folder


def test_mixer_trains_compiles_and_runs_exactly_through_the_cli(mixer, capsys):
    graph = load_graph(mixer / "program")
    assert graph.dataset == "digits" and graph.encoder["kind"] == "thermometer_image"
    spikes = np.load(mixer / "x.npy")
    assert spikes.shape == (360, 4, 4, 8, 8)

    out = str(mixer / "r.npz")
    argv = ["sim", str(mixer / "program"), "--input", str(mixer / "x.npy"), "--out", out]
    assert main(argv) == 0
    assert load_result(out).same_outputs(run_graph_golden(graph, spikes))

    capsys.readouterr()
    assert main(["eval", str(mixer / "program"), "--json"]) == 0
    golden = json.loads(capsys.readouterr().out)
    predictions = run_graph_golden(graph, spikes).predictions
    assert golden["accuracy"] == pytest.approx((predictions == np.load(mixer / "y.npy")).mean())
    assert main(["eval", str(mixer / "m.pt"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["backend"] == "float"


def test_compile_prints_the_graph_and_the_float_integer_gap(mixer, capsys):
    argv = ["compile", str(mixer / "m.pt"), "--out", str(mixer / "again")]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "Program (graph): T=4, input spikes 4x8x8" in out
    assert "population  |scale|" in out  # the folds, per population
    assert "digits test: float " in out and ", gap " in out
    assert main(["info", str(mixer / "m.pt")]) == 0
    assert "mixer model" in capsys.readouterr().out


def test_report_of_a_graph_run(mixer, capsys):
    out = str(mixer / "r.npz")
    argv = ["sim", str(mixer / "program"), "--input", str(mixer / "x.npy"), "--out", out]
    assert main(argv) == 0
    report_dir = mixer / "report"
    argv = ["report", out, "--program", str(mixer / "program"), "--out", str(report_dir)]
    assert main([*argv, "--input", str(mixer / "x.npy"), "--labels", str(mixer / "y.npy")]) == 0
    report = json.loads((report_dir / "report.json").read_text())
    assert set(report["populations"]) == {"x0", "b0_h", "b0_w", "b0_t", "b0_ff", "b0_out"}
    assert report["total"]["complete"] and report["total"]["synops_per_sample"] > 0
    assert (report_dir / "raster.png").stat().st_size > 0
    capsys.readouterr()
    assert main([*argv, "--board", "icebreaker"]) == 1
    assert "--board does not apply to a graph Program" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--model", "mixer", "--hidden", "64"], "--hidden does not apply to --model mixer"),
        (["--channels", "8"], "--channels does not apply to --model dense"),
        (["--model", "albsnn"], "--model albsnn needs --weight-budget BITS"),
        (["--model", "mixer", "--weight-budget", "9000"], "--weight-budget does not apply"),
        (["--model", "mixer", "--weight-bits", "1,2"], "takes one value, the readout's bits"),
        (["--model", "mixer", "--patch", "3"], "patch 3 does not divide image_size 8"),
    ],
)
def test_train_refuses_options_of_another_model(tmp_path, capsys, extra, message):
    assert main(["train", *extra, "--epochs", "1", "--out", str(tmp_path / "m.pt")]) == 1
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "m.pt").exists()


def test_eval_of_a_graph_program_runs_on_the_golden_model_only(mixer, capsys):
    assert main(["eval", str(mixer / "program"), "--backend", "verilator"]) == 1
    assert "runs on --backend golden" in capsys.readouterr().err


def test_snn_mlp_trains_compiles_and_runs_through_the_cli(tmp_path, capsys):
    checkpoint, program = str(tmp_path / "s.pt"), str(tmp_path / "program")
    argv = ["train", "--model", "snn-mlp", *TINY, "--neuron", "lifb", "--burst-max", "2"]
    assert main([*argv, "--out", checkpoint]) == 0
    assert main(["compile", checkpoint, "--out", program]) == 0
    out = capsys.readouterr().out
    assert "scan" in out and "axis 2, group 4, carry >> 2" in out
    gap = out.split("digits test: float ")[1]
    floating, golden = float(gap[:6]), float(gap.split("integer (golden) ")[1][:6])
    assert abs(floating - golden) < 0.05  # a 2-epoch model; the bench measures trained ones


def test_stages_applies_to_the_mixer_only(tmp_path, capsys):
    argv = ["train", "--model", "snn-mlp", "--stages", "2", "--out", str(tmp_path / "m.pt")]
    assert main(argv) == 1
    assert "--stages does not apply to --model snn-mlp" in capsys.readouterr().err
