"""Long steps: external tools that end with their caller, and progress shown while they run.

Simulator builds, simulations and bitstream builds run tools (Verilator with make and g++, the
simulators, Yosys, nextpnr) that start tools of their own. `run_process` starts each in a
session of its own and, on every way out other than its own end (Ctrl-C, SIGTERM, a timeout,
any exception), stops the whole session: SIGTERM to its process group, SIGKILL to whatever is
left after a grace period. Without that, killing the tool Python started would leave its
compilers running. A session of its own also means Ctrl-C at the terminal reaches only Python,
which then stops the group; nothing else does it.

`sigterm_raises` turns SIGTERM into `Terminated`, a `KeyboardInterrupt`, so that the `finally`
blocks that remove temporary folders run on it as on Ctrl-C (by default SIGTERM ends Python at
once, cleaning nothing).

`progress_bar` is a tqdm bar on stderr for a step that reports nothing while it runs: a thread
redraws it every half second, so the elapsed time moves, and can read the step's count from
a file the step writes. It shows only when stderr is a terminal.
"""

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tqdm import tqdm

__all__ = [
    "GRACE_S",
    "Terminated",
    "sigterm_raises",
    "run_process",
    "stop_process_group",
    "progress_bar",
]

#: Seconds a process group gets between SIGTERM and SIGKILL.
GRACE_S = 2.0
#: Seconds to wait for a SIGKILLed group to end.
KILL_WAIT_S = 2.0
#: Seconds between redraws of a progress bar.
REDRAW_S = 0.5


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived (under `sigterm_raises`); handled wherever Ctrl-C is."""


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """While inside, SIGTERM raises `Terminated` in the main thread.

    Only a default handler is replaced: an application that handles SIGTERM itself keeps its
    handler, and the outermost of nested uses is the one that installs and restores. Outside
    the main thread (where Python cannot set handlers) this does nothing."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        yield
        return

    def handler(signum, frame):
        raise Terminated(f"terminated by signal {signum}")

    signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _group_alive(pgid: int) -> bool:
    """Whether a process other than a zombie is left in group `pgid`."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = Path("/proc")
    if not proc.is_dir():
        return True
    # Zombies still count for killpg until their parent reaps them; orphans are reaped by
    # init, which in a container may never do it, so they are looked past here.
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended while being looked at
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _signal_group(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def stop_process_group(process: subprocess.Popen, grace_s: float = GRACE_S) -> None:
    """Stop `process` (started with `start_new_session=True`) and every process of its group:
    SIGTERM, then SIGKILL to what is left after `grace_s`; `process` is reaped."""
    pgid = process.pid
    try:
        _signal_group(pgid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            process.poll()
            if not _group_alive(pgid):
                break
            time.sleep(0.02)
    finally:
        # Also when a second Ctrl-C cuts the grace period short.
        if process.poll() is None or _group_alive(pgid):
            _signal_group(pgid, signal.SIGKILL)
            # SIGKILL is delivered at once but a process ends when next scheduled: wait for
            # that (bounded: one stuck in the kernel may take longer), so the group is gone
            # when this returns.
            deadline = time.monotonic() + KILL_WAIT_S
            while process.poll() is None or _group_alive(pgid):
                if time.monotonic() > deadline:
                    break
                time.sleep(0.01)
        process.wait()


def run_process(
    command,
    *,
    input=None,
    capture_output: bool = False,
    timeout: float | None = None,
    check: bool = False,
    grace_s: float = GRACE_S,
    **popen,
) -> subprocess.CompletedProcess:
    """`subprocess.run`, with `command` in a session of its own that is stopped as a whole
    (`stop_process_group`) when anything but its end stops the wait: an exception, Ctrl-C,
    SIGTERM (`sigterm_raises` is in force meanwhile) or `timeout` (then `TimeoutExpired` is
    raised). `popen` goes to `subprocess.Popen` (cwd, env, stdout, stderr, text, ...)."""
    if capture_output:
        popen["stdout"] = popen["stderr"] = subprocess.PIPE
    if input is not None:
        popen["stdin"] = subprocess.PIPE
    with sigterm_raises(), subprocess.Popen(command, start_new_session=True, **popen) as process:
        try:
            stdout, stderr = process.communicate(input, timeout=timeout)
        except BaseException:
            stop_process_group(process, grace_s)
            raise
    done = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    if check:
        done.check_returncode()
    return done


@contextmanager
def progress_bar(
    desc: str,
    *,
    total: int | None = None,
    progress: bool = True,
    count: Callable[[], int] | None = None,
    redraw_s: float = REDRAW_S,
    **options,
) -> Iterator[tqdm]:
    """A tqdm bar on stderr, redrawn every `redraw_s` seconds by a thread while inside.

    Without `total` it shows `desc` and the elapsed time (a step of unknown length). With
    `count`, the thread sets the bar's position to `count()` at each redraw and once at the
    end (e.g. lines a simulation appended to a file); otherwise the caller moves it. Disabled
    when `progress` is false or stderr is not a terminal. `options` go to tqdm."""
    if total is None:
        options.setdefault("bar_format", "{desc}: {elapsed}")
    bar = tqdm(total=total, desc=desc, disable=None if progress else True, **options)

    def follow():
        if count is not None:
            done = count()
            if done > bar.n:
                bar.update(done - bar.n)

    if bar.disable:
        try:
            yield bar
        finally:
            bar.close()
        return
    stop = threading.Event()

    def redraw():
        while not stop.wait(redraw_s):
            follow()
            bar.refresh()

    thread = threading.Thread(target=redraw, name=f"progress: {desc}", daemon=True)
    thread.start()
    try:
        yield bar
    finally:
        stop.set()
        thread.join()
        follow()
        bar.close()
