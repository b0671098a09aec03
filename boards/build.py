"""Build a board's bitstream with open tools and report what it achieved.

`build(spec, out)` runs four phases, `PHASES`, with a bar on stderr naming the one running:
elaborate (the board's top level, PLL, UART, link and engine, into Amaranth's build plan),
synthesis (Yosys), place-and-route (nextpnr) and pack (the bitstream packer), each the plan's
own command. It writes into `out`:
- the bitstream (`spikeloom.bin` for iCE40, `spikeloom.bit` for ECP5) and the tools' logs
  (`spikeloom.rpt` from Yosys, `spikeloom.tim` from nextpnr, `build.log` with what they printed);
- `report.json`: board, device, clock_mhz, fmax_mhz, lanes, luts, luts_total, ffs, brams,
  brams_total, spram (and the engine's sizes, baud rate, seed, tool versions);
- `report.txt`: the same as a readable table.

The tools are the YoWASP builds from PyPI unless the environment names others (`YOSYS`,
`NEXTPNR_ICE40`, `ICEPACK`, `NEXTPNR_ECP5`, `ECPPACK`, as Amaranth reads them), or a system
Yosys at least `MIN_SYSTEM_YOSYS` and its nextpnr are on PATH.

Each tool runs through `sw.process.run_process`, so Ctrl-C or SIGTERM stops it with its
children. A build that fails or is interrupted leaves no bitstream and no report in `out` (a
previous build's are removed when a new one starts: they would no longer match the logs).
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
from spikeloom.sw.process import progress_bar, run_process, sigterm_raises
from spikeloom.sw.reports.table import format_table

from .spec import BoardSpec

__all__ = [
    "PHASES",
    "BuildError",
    "build",
    "tool_environment",
    "parse_reports",
    "format_report",
    "tool_steps",
]

NAME = "spikeloom"
#: A build's phases, in order.
PHASES = ("elaborate", "synthesis", "place-and-route", "pack")
#: The phase of each tool variable of Amaranth's build script.
_TOOL_PHASES = {
    "YOSYS": "synthesis",
    "NEXTPNR_ICE40": "place-and-route",
    "NEXTPNR_ECP5": "place-and-route",
    "ICEPACK": "pack",
    "ECPPACK": "pack",
}

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
        text = run_process([command, "-V"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
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


def tool_steps(script: str) -> list[tuple[str, str]]:
    """Amaranth's build script (`build_spikeloom.sh`) cut into its tool commands: `(phase,
    shell script)` pairs, each script the original's settings followed by one tool's line, so
    the tools run exactly as the plan has them, one phase at a time."""
    settings, steps = [], []
    for line in script.splitlines():
        tool = re.match(r'"\$(\w+)"', line)
        if tool:
            steps.append((_TOOL_PHASES.get(tool[1], tool[1].lower()), line))
        elif line.strip() and not line.startswith("#"):
            settings.append(line)
    if not steps:
        raise BuildError("Amaranth's build script runs no tool: is this Amaranth supported?")
    return [(phase, "\n".join([*settings, line, ""])) for phase, line in steps]


def _run_steps(name: str, steps, out: Path, env: dict, bar) -> None:
    """Run each tool step in `out`, what it prints appended to `out/build.log`."""
    log = out / "build.log"
    log.write_text("")
    for phase, script in steps:
        bar.set_description_str(f"building {name}: {phase}")
        with open(log, "a") as handle:
            handle.write(f"--- {phase}: {script.splitlines()[-1]}\n")
            handle.flush()
            start = handle.tell()
            done = run_process(
                ["sh", "-c", script], cwd=out, env=env, stdout=handle, stderr=subprocess.STDOUT
            )
        if done.returncode != 0:
            with open(log, errors="replace") as handle:
                handle.seek(start)
                said = handle.read().strip().splitlines()[-15:]
            raise BuildError(
                f"the {name} build failed in {phase} (exit {done.returncode}); see the logs in "
                f"{out}. The end of {log.name}:\n" + "\n".join(said)
            )
        bar.update()


def build(
    spec: BoardSpec,
    out: Path,
    *,
    images: dict | None = None,
    program_name: str | None = None,
    clock_mhz: float | None = None,
    baud: int = 115_200,
    seed: int = 1,
    progress: bool = True,
) -> dict:
    """Build `spec`'s bitstream into `out`; returns the report (also written there).

    `images` (a Program's memory images for `spec.params`, `hw.layout.memory_images`) are
    baked into the memories; without them the board starts empty and Programs load over the
    link. Timing that fails at the requested clock still writes the bitstream and the report,
    with `timing_met` false. `progress` shows a bar over `PHASES` on stderr, when it is a
    terminal.
    """
    out = Path(out)
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
    env = {**os.environ, **tool_environment(spec.family)}
    bitstream = out / (f"{NAME}.bin" if spec.family == "ice40" else f"{NAME}.bit")
    products = (bitstream, out / "report.json", out / "report.txt")
    out.mkdir(parents=True, exist_ok=True)
    for path in products:
        path.unlink(missing_ok=True)
    with (
        sigterm_raises(),
        progress_bar(
            f"building {spec.name}", total=len(PHASES), unit="phase", progress=progress
        ) as bar,
    ):
        try:
            bar.set_description_str(f"building {spec.name}: elaborate")
            plan = _plan(spec, pll, clock_hz, divisor, images, seed, out)
            steps = tool_steps(plan.files[f"{plan.script}.sh"])
            bar.total = 1 + len(steps)  # one per tool, should Amaranth's script change
            bar.update()
            started = time.monotonic()
            _run_steps(spec.name, steps, out, env, bar)
            seconds = time.monotonic() - started
        except BaseException:
            bitstream.unlink(missing_ok=True)  # a packer stopped halfway leaves part of one
            raise
    nextpnr = json.loads((out / f"{NAME}.nextpnr.json").read_text())
    resources = parse_reports(spec.family, nextpnr, (out / f"{NAME}.rpt").read_text())
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


def _plan(spec: BoardSpec, pll, clock_hz: float, divisor: int, images, seed: int, out: Path):
    """Elaborate the board's top level into Amaranth's build plan, its files written to `out`."""
    extra = {"weight_memory": spec.weight_memory} if spec.weight_memory else {}
    board = SerialEngine(
        spec.params, int(clock_hz), divisor, images=images, fifo_depth=spec.fifo_depth, **extra
    )
    top = spec.top(board, pll)
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
    plan = spec.platform().build(top, name=NAME, build_dir=str(out), do_build=False, **overrides)
    plan.extract(str(out))
    return plan
