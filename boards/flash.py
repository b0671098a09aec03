"""Program a board with a bitstream from `boards.build`: iceprog or openFPGALoader.

A missing bitstream, a missing tool, a tool that fails (no board on USB, most often) or hangs
each end in one `FlashError` that says what to do, with the tool's own last words. The tool
runs through `sw.process.run_process`: a timeout or Ctrl-C stops it with its children.
"""

import os
import shutil
import subprocess
from pathlib import Path

from spikeloom.sw.errors import SpikeloomError
from spikeloom.sw.process import run_process

from .build import NAME
from .spec import BoardSpec

__all__ = ["FlashError", "flash", "flash_command"]

#: openFPGALoader's names for the boards.
_OPENFPGALOADER_BOARDS = {"icebreaker": "ice40_generic", "ulx3s-85f": "ulx3s"}
TIMEOUT_S = 180


class FlashError(SpikeloomError):
    pass


def flash_command(spec: BoardSpec, bitstream: Path) -> list[str]:
    """The command that programs `spec` (SRAM, not flash memory, where the tool allows)."""
    if spec.flash_tool == "iceprog":
        iceprog = os.environ.get("ICEPROG") or shutil.which("iceprog")
        if iceprog:
            return [iceprog, str(bitstream)]
    loader = os.environ.get("OPENFPGALOADER") or shutil.which("openFPGALoader")
    if loader:
        return [loader, "-b", _OPENFPGALOADER_BOARDS[spec.name], str(bitstream)]
    tools = "iceprog (apt-get install fpga-icestorm) or " if spec.flash_tool == "iceprog" else ""
    raise FlashError(
        f"no programming tool for {spec.name}: install {tools}openFPGALoader "
        "(apt-get install openfpgaloader), or set ICEPROG/OPENFPGALOADER"
    )


def flash(spec: BoardSpec, bitstream: Path | None = None, build_dir: Path = Path("build/board")):
    """Program `spec` with `bitstream` (default: the one `boards.build` wrote in `build_dir`)."""
    suffix = ".bin" if spec.family == "ice40" else ".bit"
    bitstream = bitstream or Path(build_dir) / f"{NAME}{suffix}"
    if not bitstream.is_file():
        raise FlashError(
            f"no bitstream at {bitstream}: run `spikeloom build --board {spec.name} "
            f"--out {build_dir}` first"
        )
    command = flash_command(spec, bitstream)
    try:
        done = run_process(command, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise FlashError(
            f"{command[0]} did not finish in {TIMEOUT_S} s; is the board attached?"
        ) from None
    except OSError as error:
        raise FlashError(f"cannot run {command[0]}: {error}") from None
    if done.returncode != 0:
        said = (done.stdout + done.stderr).strip().splitlines()[-3:]
        raise FlashError(
            f"{Path(command[0]).name} failed (exit {done.returncode}); is the {spec.title} "
            f"attached over USB? It said: " + " | ".join(said)
        )
    print(f"{spec.name} programmed with {bitstream}")
