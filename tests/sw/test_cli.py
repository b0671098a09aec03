"""The `spikeloom` command line, end to end, and its one-line errors on bad input."""

import json
import subprocess
import sys

import numpy as np
import pytest
import yaml
from spikeloom.sw.cli import main
from spikeloom.sw.compiler.golden import run_golden


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """Train a small model and compile it once for every test here."""
    root = tmp_path_factory.mktemp("cli")
    ckpt, program = root / "model.pt", root / "program"
    assert (
        main(
            [
                "train",
                "--hidden",
                "32",
                "--epochs",
                "3",
                "--encoder",
                "thermometer",
                "--quiet",
                "--out",
                str(ckpt),
            ]
        )
        == 0
    )
    assert main(["compile", str(ckpt), "--out", str(program)]) == 0
    return root


def test_encode_sim_and_result_files(workdir, capsys):
    program, spikes, labels, result = (workdir / n for n in ("program", "x.npy", "y.npy", "r.npz"))
    assert main(["encode", str(program), "--out", str(spikes), "--labels", str(labels)]) == 0
    assert main(["sim", str(program), "--input", str(spikes), "--out", str(result)]) == 0
    with np.load(result) as npz:
        assert set(npz.files) == {"readout", "cycles", "fc1.spikes"}
        assert npz["readout"].dtype == np.int64 and npz["readout"].shape == (360, 10)
        assert npz["fc1.spikes"].dtype == np.uint8 and npz["fc1.spikes"].shape == (360, 4, 32)
        assert npz["cycles"].dtype == np.int64 and not npz["cycles"].any()
        accuracy = (npz["readout"].argmax(1) == np.load(labels)).mean()
    capsys.readouterr()
    assert main(["eval", str(program), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["accuracy"] == pytest.approx(accuracy)
    assert report["samples"] == 360 and report["backend"] == "golden"


def test_eval_checkpoint_and_info(workdir, capsys):
    assert main(["eval", str(workdir / "model.pt")]) == 0
    assert "(float)" in capsys.readouterr().out
    assert main(["info", str(workdir / "program")]) == 0
    assert "fc1" in capsys.readouterr().out
    assert main(["info", str(workdir / "model.pt")]) == 0
    assert "hidden: [32]" in capsys.readouterr().out


def _error(capsys, argv) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 1, err
    assert err.startswith("spikeloom: error: ") and err.count("\n") == 1, err
    return err


def test_bad_inputs_give_one_line_errors(workdir, tmp_path, capsys):
    program = str(workdir / "program")
    np.save(tmp_path / "wrong.npy", np.zeros((2, 4, 7), np.uint8))
    (tmp_path / "junk.npy").write_text("not numpy")
    (tmp_path / "junk.pt").write_text("not torch")
    out = str(tmp_path / "r.npz")
    missing = ["sim", program, "--input", "nope.npy", "--out", out]
    assert "no such spikes .npy file" in _error(capsys, missing)
    assert "shape" in _error(
        capsys, ["sim", program, "--input", str(tmp_path / "wrong.npy"), "--out", out]
    )
    assert "not a .npy" in _error(
        capsys, ["sim", program, "--input", str(tmp_path / "junk.npy"), "--out", out]
    )
    assert "missing program.yaml" in _error(capsys, ["info", str(tmp_path)])
    assert "not a usable" in _error(capsys, ["eval", str(tmp_path / "junk.pt")])
    assert "needs --data-dir" in _error(capsys, ["eval", program, "--dataset", "mnist"])


def test_malformed_program_is_one_line(workdir, tmp_path, capsys):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(workdir / "program", broken)
    header = yaml.safe_load((broken / "program.yaml").read_text())
    header["layers"][0]["v_bits"] = 64
    (broken / "program.yaml").write_text(yaml.safe_dump(header))
    assert "v_bits: 64 is out of range" in _error(capsys, ["info", str(broken)])


def test_console_script_runs():
    completed = subprocess.run(
        [sys.executable, "-m", "spikeloom.sw.cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "compile" in completed.stdout


def test_sim_on_the_amaranth_backend_matches_golden(workdir, tmp_path, capsys):
    program = str(workdir / "program")
    assert main(["encode", program, "--out", str(tmp_path / "all.npy")]) == 0
    np.save(tmp_path / "x.npy", np.load(tmp_path / "all.npy")[:2])
    runs = {}
    for backend in ("golden", "amaranth"):
        out = tmp_path / f"{backend}.npz"
        argv = [
            "sim",
            program,
            "--input",
            str(tmp_path / "x.npy"),
            "--out",
            str(out),
            "--backend",
            backend,
        ]
        if backend == "amaranth":
            argv += ["--lanes", "8", "--waves", str(tmp_path / "engine.vcd")]
        assert main(argv) == 0
        runs[backend] = dict(np.load(out))
    assert "cycles/sample" in capsys.readouterr().out
    np.testing.assert_array_equal(runs["golden"]["readout"], runs["amaranth"]["readout"])
    np.testing.assert_array_equal(runs["golden"]["fc1.spikes"], runs["amaranth"]["fc1.spikes"])
    assert (runs["amaranth"]["cycles"] > 0).all() and runs["amaranth"]["lanes"] == 8
    assert (tmp_path / "engine.vcd").stat().st_size > 0


def test_run_on_the_simulated_board_matches_golden(tmp_path, capsys):
    from spikeloom.sw.compiler.program import save_program

    from tests.sw.test_device import small_program

    program, spikes = small_program(5)
    save_program(program, tmp_path / "p")
    np.save(tmp_path / "x.npy", spikes)
    out = tmp_path / "r.npz"
    assert (
        main(
            [
                "run",
                str(tmp_path / "p"),
                "--board",
                "sim",
                "--lanes",
                "4",
                "--input",
                str(tmp_path / "x.npy"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert "bytes sent" in capsys.readouterr().out
    golden = run_golden(program, spikes)
    with np.load(out) as result:
        np.testing.assert_array_equal(result["readout"], golden.readout)
        assert (result["cycles"] > 0).all()


def test_run_on_a_missing_serial_port_is_one_line(workdir, tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((1, 4, 256), np.uint8))
    message = _error(
        capsys,
        [
            "run",
            str(workdir / "program"),
            "--board",
            "serial:/dev/nope",
            "--input",
            str(tmp_path / "x.npy"),
            "--out",
            str(tmp_path / "r.npz"),
        ],
    )
    assert "cannot open serial port '/dev/nope'" in message


def test_train_with_a_weight_budget_chooses_bits_that_fit(tmp_path, capsys):
    from spikeloom.models.albsnn import layer_weight_bits
    from spikeloom.models.train import load_checkpoint

    out = tmp_path / "m.pt"
    argv = ["train", "--hidden", "16,8", "--epochs", "2", "--encoder", "thermometer", "--quiet"]
    # All 4-bit: (256 x 16 + 16 x 8 + 8 x 10) x 4 = 17,216 bits; the budget forces binary layers.
    argv += ["--weight-budget", "9000", "--estimator", "weight", "--out", str(out)]
    assert main(argv) == 0, capsys.readouterr().err
    model, checkpoint = load_checkpoint(out)
    bits = checkpoint["model"]["weight_bits"]
    sizes = [(256, 16), (16, 8), (8, 10)]
    assert sum(layer_weight_bits(i, o, b) for (i, o), b in zip(sizes, bits, strict=True)) <= 9000
    assert 1 in bits and max(bits) == 4
    assert main(["compile", str(out), "--out", str(tmp_path / "p"), "--no-eval"]) == 0
