"""Ctrl-C and lost boards lose nothing: completed samples and epochs are saved and reported."""

import os
import re
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from spikeloom.sw.batch import BATCH
from spikeloom.sw.cli import INTERRUPTED, main
from spikeloom.sw.compiler.golden import run_golden
from spikeloom.sw.compiler.program import load_program, save_program
from spikeloom.sw.result import load_result

TRAIN = ["train", "--hidden", "16", "--encoder", "thermometer", "--quiet"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("interrupts")
    assert main([*TRAIN, "--epochs", "1", "--out", str(root / "m.pt")]) == 0
    assert main(["compile", str(root / "m.pt"), "--out", str(root / "p"), "--no-eval"]) == 0
    argv = ["encode", str(root / "p"), "--out", str(root / "x.npy")]
    assert main([*argv, "--labels", str(root / "y.npy")]) == 0
    return root


def _interrupt_on_call(monkeypatch, target: str, call: int, wrapped):
    """Replace `target` with `wrapped` that raises KeyboardInterrupt on its `call`-th call."""
    calls = []

    def interrupting(*args, **kwargs):
        calls.append(1)
        if len(calls) == call:
            raise KeyboardInterrupt
        return wrapped(*args, **kwargs)

    monkeypatch.setattr(target, interrupting)


@pytest.mark.parametrize("interrupted_epoch", [1, 3])
def test_train_interrupted_keeps_the_last_whole_epoch(
    tmp_path, monkeypatch, capsys, interrupted_epoch
):
    import spikeloom.models.train as training
    from spikeloom.models.train import load_checkpoint

    _interrupt_on_call(
        monkeypatch, "spikeloom.models.train._train_epoch", interrupted_epoch, training._train_epoch
    )
    out = tmp_path / "m.pt"
    assert main([*TRAIN, "--epochs", "4", "--out", str(out)]) == INTERRUPTED
    err = capsys.readouterr().err
    done = interrupted_epoch - 1
    assert f"after {done} of 4 epochs" in err and err.count("\n") == 1, err
    if done == 0:
        assert "nothing saved" in err and not out.exists()
        return
    assert str(out) in err
    _, checkpoint = load_checkpoint(out)
    assert [entry["epoch"] for entry in checkpoint["history"]] == list(range(1, done + 1))


def _last_line(err: str) -> str:
    """The message after the progress bar's lines."""
    return err.replace("\r", "\n").strip().splitlines()[-1]


def _progress(err: str, total: int) -> int:
    """The most samples a progress bar on `err` has counted of `total`."""
    return max((int(done) for done in re.findall(rf"(\d+)/{total}\b", err)), default=0)


def _golden_batches_interrupted(monkeypatch, batch: int, call: int):
    import spikeloom.sim.registry as registry

    monkeypatch.setitem(BATCH, "golden", batch)
    real = registry.backend_runner

    def backend_runner(*args, **kwargs):
        runner = real(*args, **kwargs)
        calls = []

        def run(program, spikes):
            calls.append(1)
            if len(calls) == call:
                raise KeyboardInterrupt
            return runner(program, spikes)

        return run

    monkeypatch.setattr(registry, "backend_runner", backend_runner)


def test_sim_interrupted_saves_the_completed_batches(workdir, tmp_path, monkeypatch, capsys):
    _golden_batches_interrupted(monkeypatch, batch=100, call=3)
    out = tmp_path / "r.npz"
    argv = ["sim", str(workdir / "p"), "--input", str(workdir / "x.npy"), "--out", str(out)]
    assert main(argv) == INTERRUPTED
    err = _last_line(capsys.readouterr().err)
    assert "interrupted; 200 of 360 samples completed" in err and str(out) in err, err
    result = load_result(out)
    assert result.samples == 200 and result.requested == 360 and not result.complete
    spikes = np.load(workdir / "x.npy")
    assert result.same_outputs(run_golden(load_program(workdir / "p"), spikes[:200]))

    # The partial result reports like any other, against the input it was asked to run.
    report = ["report", str(out), "--program", str(workdir / "p"), "--board", "icebreaker"]
    report += ["--input", str(workdir / "x.npy"), "--labels", str(workdir / "y.npy")]
    assert main([*report, "--out", str(tmp_path / "report")]) == 0
    assert "200 of 360 samples" in capsys.readouterr().out


def test_eval_interrupted_reports_the_accuracy_so_far(workdir, tmp_path, monkeypatch, capsys):
    _golden_batches_interrupted(monkeypatch, batch=50, call=2)
    out = tmp_path / "r.npz"
    assert main(["eval", str(workdir / "p"), "--out", str(out)]) == INTERRUPTED
    err = _last_line(capsys.readouterr().err)
    assert "50 of 360 samples" in err and "accuracy" in err and "on those 50" in err, err
    assert load_result(out).samples == 50


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_sim_interrupted_by_a_signal_on_the_amaranth_backend(tmp_path, signum):
    """A real Ctrl-C (or `kill`) to a real process: the batches before it are saved, exact."""
    from tests.sw.test_device import small_program

    program, _ = small_program(3)
    save_program(program, tmp_path / "p")
    rng = np.random.default_rng(3)
    spikes = (rng.random((64, program.timesteps, program.inputs)) < 0.3).astype(np.uint8)
    np.save(tmp_path / "x.npy", spikes)
    out = tmp_path / "r.npz"
    command = [sys.executable, "-m", "spikeloom.sw.cli", "sim", str(tmp_path / "p")]
    command += ["--input", str(tmp_path / "x.npy"), "--out", str(out), "--backend", "amaranth"]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    seen = []
    reader = threading.Thread(target=lambda: seen.extend(iter(lambda: process.stderr.read(1), "")))
    reader.start()
    deadline = time.monotonic() + 240
    # tqdm prints "N/64" as batches complete: interrupt after the first one.
    while _progress("".join(seen), 64) < 16 and process.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    os.kill(process.pid, signum)
    assert process.wait(timeout=120) == INTERRUPTED
    reader.join()
    err = "".join(seen)
    assert "Traceback" not in err and "of 64 samples" in err, err
    result = load_result(out)
    assert result.requested == 64 and 16 <= result.samples < 64 and result.samples % 8 == 0
    assert result.same_outputs(run_golden(program, spikes[: result.samples]))


def test_run_against_a_bridge_killed_mid_run_saves_the_completed_samples(tmp_path):
    """`spikeloom bridge` killed under `spikeloom run --board serial:PTY`: the port goes away
    (EIO), and the run saves exactly the golden model's first samples and says how many."""
    from tests.sw.test_device import small_program

    program, _ = small_program(5)
    save_program(program, tmp_path / "p")
    rng = np.random.default_rng(5)
    print("seed 5")
    spikes = (rng.random((400, program.timesteps, program.inputs)) < 0.3).astype(np.uint8)
    np.save(tmp_path / "x.npy", spikes)
    cli = [sys.executable, "-m", "spikeloom.sw.cli"]
    bridge = subprocess.Popen(
        [*cli, "bridge", str(tmp_path / "p"), "--lanes", "4"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        line = bridge.stdout.readline()  # "simulated board on /dev/pts/N (Ctrl-C to stop)"
        assert line.startswith("simulated board on "), line
        port = line.split()[3]
        out = tmp_path / "r.npz"
        run = [*cli, "run", str(tmp_path / "p"), "--board", f"serial:{port}"]
        run += ["--input", str(tmp_path / "x.npy"), "--out", str(out)]
        client = subprocess.Popen(run, stderr=subprocess.PIPE, text=True)
        seen = []
        reader = threading.Thread(
            target=lambda: seen.extend(iter(lambda: client.stderr.read(1), ""))
        )
        reader.start()
        deadline = time.monotonic() + 120
        while _progress("".join(seen), 400) < 5 and time.monotonic() < deadline:
            assert client.poll() is None, "".join(seen)
            time.sleep(0.05)
        bridge.kill()
        assert client.wait(timeout=60) == 1
        reader.join()
    finally:
        bridge.kill()
        bridge.wait()
    err = _last_line("".join(seen))
    assert "went away" in err and "of 400 samples completed" in err and str(out) in err, err
    result = load_result(out)
    assert result.requested == 400 and 5 <= result.samples < 400
    assert result.same_outputs(run_golden(program, spikes[: result.samples]))


def test_demo_interrupted_in_training_or_on_the_hardware_keeps_what_finished(
    tmp_path, monkeypatch, capsys
):
    import spikeloom.models.train as training
    import spikeloom.sim.registry as registry
    from spikeloom.models.train import load_checkpoint

    _interrupt_on_call(monkeypatch, "spikeloom.models.train._train_epoch", 2, training._train_epoch)
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--epochs", "3", "--quiet"]) == INTERRUPTED
    assert "after 1 of 3 epochs" in _last_line(capsys.readouterr().err)
    assert len(load_checkpoint(out / "checkpoint.pt")[1]["history"]) == 1
    monkeypatch.undo()

    # The hardware run: the golden model stands in for Verilator, interrupted in batch 2.
    golden = registry.backend_runner("golden")
    calls = []

    def interrupting(program, spikes):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return golden(program, spikes)

    monkeypatch.setattr(registry, "backend_runner", lambda *args, **kwargs: interrupting)
    argv = ["demo", "--out", str(out), "--epochs", "1", "--quiet", "--backend", "verilator"]
    assert main(argv) == INTERRUPTED
    err = _last_line(capsys.readouterr().err)
    assert f"64 of 360 samples completed (their results are in {out}" in err, err
    assert load_result(out / "hw_result.npz").samples == 64


def test_a_bridge_whose_board_dies_exits_with_a_message(tmp_path):
    """The simulated board's harness killed under `spikeloom bridge`: the bridge says why in
    one line and exits 1, rather than serving a dead board."""
    from tests.sw.test_device import small_program

    program, _ = small_program(5)
    save_program(program, tmp_path / "p")
    command = [sys.executable, "-m", "spikeloom.sw.cli", "bridge", str(tmp_path / "p")]
    bridge = subprocess.Popen(
        [*command, "--lanes", "4"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert bridge.stdout.readline().startswith("simulated board on ")
        children = subprocess.run(
            ["pgrep", "-P", str(bridge.pid)], capture_output=True, text=True
        ).stdout.split()
        assert len(children) == 1, children  # the Verilator harness
        os.kill(int(children[0]), signal.SIGKILL)
        assert bridge.wait(timeout=30) == 1
    finally:
        bridge.kill()
        bridge.wait()
    err = bridge.stderr.read()
    assert err.startswith("spikeloom: error: the bridge stopped: ") and err.count("\n") == 1, err
