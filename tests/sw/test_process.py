"""External tools end with their caller: Ctrl-C, SIGTERM and timeouts stop the whole group."""

import io
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from spikeloom.sw.process import Terminated, progress_bar, run_process, sigterm_raises


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie waiting for its parent does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def ends_soon(pid: int, within_s: float = 3.0) -> bool:
    """Whether `pid` is gone within `within_s`: a killed process ends when next scheduled, which
    on a machine loaded far past its cores can come after `run_process` has returned."""
    deadline = time.monotonic() + within_s
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def signal_main_thread(after_s: float, signum: int) -> threading.Timer:
    """Deliver `signum` to the main thread, as the terminal's Ctrl-C or a `kill` would."""
    timer = threading.Timer(after_s, signal.pthread_kill, (threading.main_thread().ident, signum))
    timer.start()
    return timer


def signal_main_thread_when(path: Path, signum: int) -> threading.Thread:
    """Deliver `signum` to the main thread once `path` exists (at most 10 s from now)."""

    def wait_then_signal():
        deadline = time.monotonic() + 10
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        signal.pthread_kill(threading.main_thread().ident, signum)

    thread = threading.Thread(target=wait_then_signal)
    thread.start()
    return thread


def spawner(folder: Path, trap: str = "") -> list[str]:
    """A shell that starts a grandchild `sleep 30`, writes its pid, and waits for it."""
    return ["sh", "-c", f"{trap}sleep 30 & echo $! > {folder}/child; wait"]


def child_pid(folder: Path) -> int:
    for _ in range(500):
        text = (folder / "child").read_text() if (folder / "child").exists() else ""
        if text.strip():
            return int(text)
        time.sleep(0.01)
    raise AssertionError("the command wrote no child pid")


def test_runs_like_subprocess_run():
    done = run_process(["sh", "-c", "cat; echo err >&2; exit 3"], input=b"in", capture_output=True)
    assert (done.returncode, done.stdout, done.stderr) == (3, b"in", b"err\n")
    with pytest.raises(subprocess.CalledProcessError):
        run_process(["false"], check=True)


@pytest.mark.parametrize(
    "signum, raised", [(signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, Terminated)]
)
def test_an_interrupt_stops_the_whole_group(tmp_path, signum, raised):
    timer = signal_main_thread_when(tmp_path / "child", signum)
    start = time.monotonic()
    with pytest.raises(raised):
        run_process(spawner(tmp_path))
    timer.join()
    assert time.monotonic() - start < 5
    assert ends_soon(child_pid(tmp_path))
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # restored


def test_a_timeout_stops_the_whole_group(tmp_path):
    with pytest.raises(subprocess.TimeoutExpired):
        run_process(spawner(tmp_path), timeout=0.5)
    assert ends_soon(child_pid(tmp_path))


def test_what_ignores_sigterm_is_killed_after_the_grace(tmp_path):
    start = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        run_process(spawner(tmp_path, trap="trap '' TERM; "), timeout=0.5, grace_s=0.3)
    assert 0.8 <= time.monotonic() - start < 5
    assert ends_soon(child_pid(tmp_path))


def test_sigterm_raises_keeps_an_applications_handler():
    def mine(signum, frame):
        pass

    previous = signal.signal(signal.SIGTERM, mine)
    try:
        with sigterm_raises():
            assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, previous)


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_follows_a_count(tmp_path):
    lines = tmp_path / "done"
    lines.write_text("")
    screen = Terminal()
    with progress_bar(
        "sim",
        total=3,
        count=lambda: len(lines.read_text().splitlines()),
        redraw_s=0.05,
        file=screen,
    ) as bar:
        for _ in range(3):
            with open(lines, "a") as handle:
                handle.write("1\n")
            time.sleep(0.15)
        assert bar.n >= 2  # the thread follows while the step runs
    assert bar.n == 3 and "3/3" in screen.getvalue()


def test_progress_bar_shows_elapsed_time_and_can_be_off():
    screen = Terminal()
    with progress_bar("building x (cached after)", redraw_s=0.05, file=screen):
        time.sleep(0.2)
    assert "building x (cached after): 00:00" in screen.getvalue()
    quiet = Terminal()
    with progress_bar("building x", progress=False, file=quiet):
        pass
    assert quiet.getvalue() == ""
    plain = io.StringIO()  # not a terminal: nothing drawn
    with progress_bar("building x", file=plain):
        pass
    assert plain.getvalue() == ""
