"""Format-2 (graph) Programs on the command line."""

import numpy as np
from spikeloom.sw.cli import main
from spikeloom.sw.compiler.graph import Graph, Population, Projection, Weight, save_graph


def small_graph() -> Graph:
    """[2, 3, 4] input -> token mixing along H (shared 3x3 weight) -> a readout of 5."""
    ones = np.ones((1, 1, 1), np.int32)
    mixed = Population("mixed", (2, 3, 4), "lif", 2 * ones, 0 * ones, leak_shift=1)
    head = Population("head", (5,), "readout", np.ones((1,), np.int32), np.zeros((1,), np.int32))
    rng = np.random.default_rng(0)
    weights = {
        "mix_h": Weight("mix_h", 1, rng.choice([-1, 1], (3, 3)).astype(np.int8)),
        "head": Weight("head", 2, rng.integers(-2, 2, (24, 5)).astype(np.int8)),
    }
    projections = [
        Projection("x", "mixed", "axis", weight="mix_h", axis=1),
        Projection("x", "mixed", "identity", gain_shift=1),
        Projection("mixed", "head", "dense", weight="head"),
    ]
    return Graph(4, "x", (2, 3, 4), [mixed, head], weights, projections).validate()


def test_info_describes_a_graph_program(tmp_path, capsys):
    save_graph(small_graph(), tmp_path / "g")
    assert main(["info", str(tmp_path / "g")]) == 0
    out = capsys.readouterr().out
    assert "Program (graph): T=4, input x 2x3x4, 2 populations, 3 projections" in out
    assert "x -> mixed     axis      mix_h   3x3" in out and "axis 1" in out
    assert "2 weight tensors, 249 weight bits stored once" in out  # 9 x 1 + 120 x 2


def test_sim_runs_a_graph_program_on_the_golden_model_only(tmp_path, capsys):
    from spikeloom.sw.compiler.graph_golden import run_graph_golden
    from spikeloom.sw.result import load_result

    graph = small_graph()
    save_graph(graph, tmp_path / "g")
    spikes = (np.random.default_rng(1).random((7, 4, 2, 3, 4)) < 0.4).astype(np.uint8)
    np.save(tmp_path / "x.npy", spikes)
    argv = ["sim", str(tmp_path / "g"), "--input", str(tmp_path / "x.npy")]
    assert main([*argv, "--out", str(tmp_path / "r.npz")]) == 0
    result = load_result(tmp_path / "r.npz")
    assert result.same_outputs(run_graph_golden(graph, spikes))
    assert result.spikes["mixed"].shape == (7, 4, 2, 3, 4)

    assert main([*argv, "--out", str(tmp_path / "r.npz"), "--backend", "amaranth"]) == 1
    assert "a graph Program (format 2) runs on --backend golden" in capsys.readouterr().err
    np.save(tmp_path / "flat.npy", spikes.reshape(7, 4, 24))
    argv = ["sim", str(tmp_path / "g"), "--input", str(tmp_path / "flat.npy")]
    assert main([*argv, "--out", str(tmp_path / "r.npz")]) == 1
    assert "expected (samples, 4, 2, 3, 4)" in capsys.readouterr().err


def test_report_refuses_the_result_of_another_graph(tmp_path, capsys):
    graph = small_graph()
    save_graph(graph, tmp_path / "g")
    spikes = (np.random.default_rng(2).random((3, 4, 2, 3, 4)) < 0.4).astype(np.uint8)
    np.save(tmp_path / "x.npy", spikes)
    argv = ["sim", str(tmp_path / "g"), "--input", str(tmp_path / "x.npy")]
    assert main([*argv, "--out", str(tmp_path / "r.npz")]) == 0
    graph.populations[0].name = "renamed"
    for projection in graph.projections:
        projection.source = "renamed" if projection.source == "mixed" else projection.source
        projection.target = "renamed" if projection.target == "mixed" else projection.target
    save_graph(graph.validate(), tmp_path / "other")
    capsys.readouterr()
    argv = ["report", str(tmp_path / "r.npz"), "--program", str(tmp_path / "other")]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "does not belong to this Program" in err and "'mixed'" in err
    argv = ["report", str(tmp_path / "r.npz"), "--program", str(tmp_path / "g")]
    assert main([*argv, "--out", str(tmp_path / "rep")]) == 0
    assert "no --input" in capsys.readouterr().out  # input projections not counted, said so
