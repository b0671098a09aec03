"""The build cache with fake builds: cached after one build, nothing half-built left behind."""

import fcntl
import io
import json
import signal
import threading
import time

import pytest
from spikeloom.sim.build_cache import BUILT, cached_build
from spikeloom.sw.process import Terminated, run_process

from tests.sw.test_process import alive, child_pid, signal_main_thread_when, spawner


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_built_once_then_cached(tmp_path):
    calls = []

    def build(folder):
        calls.append(folder)
        (folder / "model").write_text("built")
        return {"what": 1}

    folder, info = cached_build("cocotb", "k1", build, tmp_path, progress=False)
    again, cached = cached_build("cocotb", "k1", build, tmp_path, progress=False)
    assert folder == again and len(calls) == 1
    assert info["what"] == cached["what"] == 1 and "build_s" in cached
    assert json.loads((folder / BUILT).read_text()) == cached
    assert not (folder / f"{BUILT}.part").exists()


def test_a_build_shows_its_elapsed_time(tmp_path, monkeypatch):
    screen = Terminal()
    monkeypatch.setattr("sys.stderr", screen)

    def build(folder):
        time.sleep(0.6)
        return {}

    cached_build("cocotb", "k", build, tmp_path, title="the verilator engine")
    assert "building the verilator engine (cached after): 00:00" in screen.getvalue()
    hit = Terminal()
    monkeypatch.setattr("sys.stderr", hit)
    cached_build("cocotb", "k", build, tmp_path)
    assert hit.getvalue() == ""  # a cache hit says nothing
    monkeypatch.setattr("sys.stderr", quiet := Terminal())
    cached_build("cocotb", "k2", lambda folder: {}, tmp_path, progress=False)
    assert quiet.getvalue() == ""


@pytest.mark.parametrize(
    "signum, raised", [(signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, Terminated)]
)
def test_an_interrupted_build_leaves_nothing(tmp_path, signum, raised):
    """Ctrl-C or SIGTERM during a build: its tools' process group is gone, its folder too."""
    jobs = tmp_path / "jobs"
    jobs.mkdir()

    def build(folder):
        (folder / "half").write_text("x")
        run_process(spawner(jobs))
        return {}

    timer = signal_main_thread_when(jobs / "child", signum)
    with pytest.raises(raised):
        cached_build("verilator-transport", "k", build, tmp_path / "cache", progress=False)
    timer.join()
    assert not alive(child_pid(jobs))
    assert not (tmp_path / "cache" / "verilator-transport" / "k").exists()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_a_failed_build_keeps_its_log_and_is_built_again(tmp_path):
    def fails(folder):
        (folder / "build.log").write_text("error: no")
        raise RuntimeError("failed, see build.log")

    with pytest.raises(RuntimeError):
        cached_build("cocotb", "k", fails, tmp_path, progress=False)
    folder = tmp_path / "cocotb" / "k"
    assert (folder / "build.log").is_file() and not (folder / BUILT).exists()
    folder, _ = cached_build("cocotb", "k", lambda f: {}, tmp_path, progress=False)
    assert not (folder / "build.log").exists()  # built afresh


def test_waiting_for_another_build_shows_progress(tmp_path, monkeypatch):
    """A second builder of the same key waits on the lock, then takes the first one's build."""
    folder = tmp_path / "cocotb" / "k"
    folder.mkdir(parents=True)
    lock = open(tmp_path / "cocotb" / "k.lock", "w")
    fcntl.flock(lock, fcntl.LOCK_EX)

    def finish():
        time.sleep(0.6)
        (folder / BUILT).write_text(json.dumps({"by": "other", "build_s": 1.0}))
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()

    other = threading.Thread(target=finish)
    other.start()
    monkeypatch.setattr("sys.stderr", screen := Terminal())
    _, info = cached_build("cocotb", "k", lambda f: pytest.fail("built twice"), tmp_path)
    other.join()
    assert info["by"] == "other"
    assert "waiting for another process building the engine for cocotb" in screen.getvalue()
