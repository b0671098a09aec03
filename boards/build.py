"""Build a board's bitstream with open tools and report what it achieved.

`build(spec, out)` elaborates the board's top level (PLL, UART, link, engine), runs Yosys,
nextpnr and the bitstream packer through Amaranth's build plan, and writes into `out`:
- the bitstream (`spikeloom.bin` for iCE40, `spikeloom.bit` for ECP5) and the tools' logs;
- `report.json`: board, device, clock_mhz, fmax_mhz, lanes, luts, luts_total, ffs, brams,
  brams_total, spram (and the engine's sizes, baud rate, seed, tool versions);
- `report.txt`: the same as a readable table.

The tools are the YoWASP builds from PyPI unless the environment names others (`YOSYS`,
`NEXTPNR_ICE40`, `ICEPACK`, `NEXTPNR_ECP5`, `ECPPACK`, as Amaranth reads them), or a system
Yosys at least `MIN_SYSTEM_YOSYS` and its nextpnr are on PATH.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from spikeloom.hw.serial_engine import SerialEngine
from spikeloom.hw.uart import divisor_for
from spikeloom.sw.errors import SpikeloomError
from spikeloom.sw.reports.table import format_table

from .spec import BoardSpec

__all__ = ["BuildError", "build", "tool_environment", "parse_reports", "format_report"]

NAME = "spikeloom"

#: Yosys commands run before synthesis: the memories `hw.ram.ram` marks `no_rw_check` (one read
#: and one write port each, and no read that looks at a word written in the same cycle) get an
#: undefined read-during-write result, so that no bypass logic is built around their block RAMs.
#: Yosys honours that attribute from Verilog sources only, so it is applied to the collected
#: memories here.
NO_RW_CHECK = (
    "proc; memory_collect a:no_rw_check; "
    "setparam -set RD_COLLISION_X_MASK 1'b1 t:$mem_v2 a:no_rw_check %i"
)
MIN_SYSTEM_YOSYS = (0, 40)

_TOOLS = {
    "ice40": {"YOSYS": "yosys", "NEXTPNR_ICE40": "nextpnr-ice40", "ICEPACK": "icepack"},
    "ecp5": {"YOSYS": "yosys", "NEXTPNR_ECP5": "nextpnr-ecp5", "ECPPACK": "ecppack"},
}


class BuildError(SpikeloomError):
    pass


def _yosys_version(command: str) -> tuple[int, int] | None:
    try:
        text = subprocess.run(
            [command, "-V"], capture_output=True, text=True, timeout=60, check=False
        ).stdout
    except OSError:
        return None
    match = re.search(r"Yosys (\d+)\.(\d+)", text)
    return (int(match[1]), int(match[2])) if match else None


def _which(command: str) -> str | None:
    # The virtual environment's own scripts count even when it is not on PATH.
    here = str(Path(sys.executable).parent)
    return shutil.which(command, path=os.pathsep.join([here, os.environ.get("PATH", "")]))


def tool_environment(family: str) -> dict[str, str]:
    """The tool variables for `family`: what the environment sets, else system tools when all
    are there and Yosys is new enough, else YoWASP's."""
    tools = _TOOLS[family]
    chosen = {var: os.environ[var] for var in tools if os.environ.get(var)}
    missing = [var for var in tools if var not in chosen]
    system = all(shutil.which(tools[var]) for var in missing) and (
        "YOSYS" not in missing or (_yosys_version("yosys") or (0, 0)) >= MIN_SYSTEM_YOSYS
    )
    for var in missing:
        name = tools[var] if system else f"yowasp-{tools[var]}"
        path = _which(name)
        if path is None:
            raise BuildError(f"{name} is not installed: run `make setup`, or set {var} to the tool")
        chosen[var] = path
    # The ULX3S platform looks for openFPGALoader even when it only builds.
    chosen.setdefault("OPENFPGALOADER", os.environ.get("OPENFPGALOADER", "openFPGALoader"))
    return chosen


def _count_cells(yosys_log: str, prefixes: tuple[str, ...]) -> int:
    """Sum of the cell counts of types starting with one of `prefixes` in the last `stat`
    (Yosys writes "Number of cells: N" then "TYPE N" before 0.50, "N cells" then "N TYPE" since)."""
    starts = [m.end() for m in re.finditer(r"Number of cells:.*|^\s+\d+ cells$", yosys_log, re.M)]
    block = yosys_log[starts[-1] :] if starts else ""
    total = 0
    for line in block.splitlines()[1:]:
        parts = line.split()
        if len(parts) != 2:
            if total:
                break  # past the cell list
            continue
        count, name = (parts[0], parts[1]) if parts[0].isdigit() else (parts[1], parts[0])
        if count.isdigit() and name.lstrip("$").startswith(prefixes):
            total += int(count)
    return total


def parse_reports(family: str, nextpnr_report: dict, yosys_log: str) -> dict:
    """Resources and Fmax from nextpnr's JSON report (and the flip-flop count from Yosys's
    statistics for iCE40, whose logic cells pair a LUT with a flip-flop)."""
    used = {name: cell["used"] for name, cell in nextpnr_report["utilization"].items()}
    fmax = nextpnr_report.get("fmax", {})
    # The engine's clock is the one domain driven by the PLL; the fastest constraint is it.
    achieved = min((clock["achieved"] for clock in fmax.values()), default=None)
    if family == "ice40":
        return {
            "luts": used.get("ICESTORM_LC", 0),
            "ffs": _count_cells(yosys_log, ("SB_DFF",)),
            "brams": used.get("ICESTORM_RAM", 0),
            "spram": used.get("ICESTORM_SPRAM", 0),
            "fmax_mhz": achieved,
        }
    return {
        "luts": used.get("TRELLIS_COMB", 0),
        "ffs": used.get("TRELLIS_FF", 0),
        "brams": used.get("DP16KD", 0),
        "spram": 0,
        "fmax_mhz": achieved,
    }


def format_report(report: dict) -> str:
    rows = [
        ["board", f"{report['board']} ({report['device']})"],
        ["clock", f"{report['clock_mhz']:.2f} MHz"],
        ["Fmax", f"{report['fmax_mhz']:.2f} MHz" + ("" if report["timing_met"] else "  (FAILS)")],
        ["lanes", f"{report['lanes']} (sweep {report['sweep_lanes']} per cycle)"],
        ["logic", f"{report['luts']} / {report['luts_total']}"],
        ["flip-flops", str(report["ffs"])],
        ["block RAMs", f"{report['brams']} / {report['brams_total']}"],
        ["SPRAMs", f"{report['spram']} / {report['spram_total']}"],
        ["UART", f"{report['baud']} baud (divisor {report['divisor']})"],
        ["Program", report["program"] or "loaded over the link"],
        ["build time", f"{report['build_seconds']:.0f} s"],
        ["bitstream", report["bitstream"]],
    ]
    return format_table(["", ""], rows)


def build(
    spec: BoardSpec,
    out: Path,
    *,
    images: dict | None = None,
    program_name: str | None = None,
    clock_mhz: float | None = None,
    baud: int = 115_200,
    seed: int = 1,
) -> dict:
    """Build `spec`'s bitstream into `out`; returns the report (also written there).

    `images` (a Program's memory images for `spec.params`, `hw.layout.memory_images`) are
    baked into the memories; without them the board starts empty and Programs load over the
    link. Timing that fails at the requested clock still writes the bitstream and the report,
    with `timing_met` false.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pll = spec.pll((clock_mhz or spec.clock_mhz) * 1e6)
    clock_hz = pll.f_out_hz
    if not 1 <= baud <= spec.max_baud:
        raise BuildError(f"--baud {baud} is outside 1..{spec.max_baud} for {spec.name}")
    try:
        divisor = divisor_for(clock_hz, baud)
    except ValueError as error:
        raise BuildError(f"{baud} baud at {clock_hz / 1e6:g} MHz: {error}") from None
    if images is not None and not spec.bakes_weights:
        raise BuildError(
            f"{spec.title} keeps weights in SPRAM, which a bitstream cannot initialise: build "
            "without --program and load the Program over the link (`spikeloom run` does)"
        )
    extra = {"weight_memory": spec.weight_memory} if spec.weight_memory else {}
    board = SerialEngine(
        spec.params, int(clock_hz), divisor, images=images, fifo_depth=spec.fifo_depth, **extra
    )
    top = spec.top(board, pll)
    platform = spec.platform()
    env = {**os.environ, **tool_environment(spec.family)}
    overrides = {
        # Timing is reported, not enforced: a build that misses the clock still says by how much.
        "script_after_read": NO_RW_CHECK,
        "nextpnr_opts": [
            "--seed",
            str(seed),
            "--report",
            f"{NAME}.nextpnr.json",
            "--timing-allow-fail",
        ],
    }
    if spec.synth_opts:
        overrides["synth_opts"] = spec.synth_opts
    plan = platform.build(top, name=NAME, build_dir=str(out), do_build=False, **overrides)
    started = time.monotonic()
    try:
        plan.execute_local(str(out), env=env)
    except subprocess.CalledProcessError as error:
        log = next((p for p in (out / f"{NAME}.tim", out / f"{NAME}.rpt") if p.exists()), None)
        raise BuildError(
            f"the {spec.name} build failed ({error}); see the logs in {out}"
            + (f", e.g. {log}" if log else "")
        ) from None
    seconds = time.monotonic() - started
    nextpnr = json.loads((out / f"{NAME}.nextpnr.json").read_text())
    resources = parse_reports(spec.family, nextpnr, (out / f"{NAME}.rpt").read_text())
    bitstream = out / (f"{NAME}.bin" if spec.family == "ice40" else f"{NAME}.bit")
    report = {
        "board": spec.name,
        "device": spec.device,
        "clock_mhz": round(clock_hz / 1e6, 4),
        **resources,
        "timing_met": resources["fmax_mhz"] is not None and resources["fmax_mhz"] >= clock_hz / 1e6,
        "lanes": spec.params.lanes,
        "sweep_lanes": spec.params.units,
        "luts_total": spec.luts_total,
        "brams_total": spec.brams_total,
        "spram_total": spec.spram_total,
        "baud": baud,
        "divisor": divisor,
        "seed": seed,
        "synth_opts": spec.synth_opts,
        "program": program_name,
        "params": spec.params.as_dict(),
        "build_seconds": round(seconds, 1),
        "bitstream": str(bitstream),
        "tools": {var: value for var, value in env.items() if var in _TOOLS[spec.family]},
    }
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "report.txt").write_text(format_report(report) + "\n")
    return report
