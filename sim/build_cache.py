"""The one build cache of every generated simulator: keyed by a digest, locked, never half-built.

Verilator and Icarus builds take seconds to a minute, and one build serves every Program that
fits its `EngineParams`, so each is kept in the user's cache directory: `$SPIKELOOM_CACHE` if
set, else `$XDG_CACHE_HOME/spikeloom`, else `~/.cache/spikeloom`. Never inside the installed
package, which may be read-only. `spikeloom clean-cache` empties it.

A build lives in `<root>/<kind>/<key>/`. The key is a digest of everything the build depends on
(the gateware's sources, the tools' versions, the settings), so a changed source makes a new
build and an old one is simply never used again. A lock file serialises builders across
processes (parallel tests and sweeps), and `built.json` is written last: a folder without it
is an unfinished build and is built again from scratch. An interrupted build (Ctrl-C, SIGTERM)
removes its folder at once; a failed one keeps it, unmarked, for the log its error names.

A build that runs shows its elapsed time on stderr ("building the verilator engine (cached
after): 00:12"), as does a wait for another process's build of the same key; a cache hit shows
nothing.
"""

import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from pathlib import Path

import spikeloom.hw
from spikeloom.sw.process import progress_bar, sigterm_raises

__all__ = [
    "ENV_CACHE",
    "KINDS",
    "cache_root",
    "digest",
    "gateware_sources",
    "cached_build",
    "clear_cache",
]

log = logging.getLogger(__name__)

#: Environment variable that moves the cache.
ENV_CACHE = "SPIKELOOM_CACHE"
#: The kinds of build kept here, each a folder of the cache: the engine for cocotb (Verilator or
#: Icarus), and the serial engine with its UART in the C++ harness.
KINDS = ("cocotb", "verilator-transport")
#: Written last in a build folder: what was built, and how long it took.
BUILT = "built.json"
#: What a build of each kind makes, for the progress line.
TITLES = {"cocotb": "the engine for cocotb", "verilator-transport": "the simulated board"}


def cache_root() -> Path:
    """The cache directory (see the module docstring); not created here."""
    if os.environ.get(ENV_CACHE):
        return Path(os.environ[ENV_CACHE]).expanduser().resolve()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser().resolve() / "spikeloom"


def gateware_sources() -> list[Path]:
    """Every Python source of the gateware (`spikeloom.hw`), in a stable order."""
    return sorted(Path(spikeloom.hw.__file__).parent.rglob("*.py"))


def digest(settings: dict, sources: Iterable[Path] = ()) -> str:
    """A short key naming a build: its settings (JSON-able) and the contents of `sources`."""
    hasher = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    for source in sources:
        source = Path(source)
        hasher.update(source.name.encode() + b"\0" + source.read_bytes())
    return hasher.hexdigest()[:16]


@contextmanager
def _locked(path: Path, waiting: str, progress: bool):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            # Another process builds the same key: its build serves this one too.
            with progress_bar(waiting, progress=progress):
                fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def cached_build(
    kind: str,
    key: str,
    build: Callable[[Path], dict],
    root: str | Path | None = None,
    *,
    title: str | None = None,
    progress: bool = True,
) -> tuple[Path, dict]:
    """The folder of build `kind`/`key` and its `built.json`, running `build(folder)` first if
    it is not cached. `build` fills the empty folder and returns what to record (JSON-able);
    `build_s` is added. `root` replaces `cache_root()`.

    While `build` runs, "building `title` (cached after)" and the elapsed time show on stderr
    when it is a terminal and `progress` is true (`title` defaults to the kind's). An
    interruption (KeyboardInterrupt, or SIGTERM, which raises `sw.process.Terminated` here)
    removes the folder before it propagates; any other exception leaves it unmarked, so the
    next call builds afresh."""
    if kind not in KINDS:
        raise ValueError(f"build kind {kind!r} is not one of {', '.join(KINDS)}")
    title = title or TITLES[kind]
    folder = Path(root or cache_root()).resolve() / kind / key
    lock = folder.with_name(folder.name + ".lock")
    waiting = f"waiting for another process building {title}"
    with sigterm_raises(), _locked(lock, waiting, progress):
        if (folder / BUILT).is_file():
            return folder, json.loads((folder / BUILT).read_text())
        shutil.rmtree(folder, ignore_errors=True)  # an unfinished or failed build
        folder.mkdir(parents=True)
        start = time.perf_counter()
        try:
            with progress_bar(f"building {title} (cached after)", progress=progress):
                info = {**build(folder), "build_s": time.perf_counter() - start}
            # Whole or absent, even if the process dies while writing it.
            (folder / f"{BUILT}.part").write_text(json.dumps(info, indent=1))
            os.replace(folder / f"{BUILT}.part", folder / BUILT)
        except KeyboardInterrupt:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        log.info("built %s in %.1f s: %s", kind, info["build_s"], folder)
        return folder, info


def clear_cache(root: str | Path | None = None) -> tuple[Path, int]:
    """Remove every cached build (only the folders of `KINDS`: the root may hold other things);
    returns the cache root and the bytes freed."""
    root = Path(root or cache_root())
    freed = 0
    for kind in KINDS:
        folder = root / kind
        if folder.is_dir():
            freed += sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())
            shutil.rmtree(folder)
    return root, freed
