"""cocotb testbench of the engine's generated Verilog, run by `sim.cocotb_backend`.

The backend writes a job (`job.npz` in the folder named by $SPIKELOOM_COCOTB_JOB): the
configuration payloads that load a Program, every sample's input payloads and the run's settings.
A driver writes the configuration through `i_config`, then streams the input events through
`i_events`; a monitor takes `o_events` and records the `counters` struct at each SAMPLE_END.
With `stall > 0` the driver idles before a payload and the monitor drops `ready`, each with that
probability (seeded). The outputs go to `result.npz` next to the job, also when the run fails,
with the number of samples completed and the error. Each SAMPLE_END also appends a line to
`progress` there, which the backend counts for its progress bar while the simulator runs.

Signals are sampled in the ReadOnly phase before a clock edge (what the edge will see), so both
simulators agree on every handshake. The testbench stays light per cycle: while a stream is idle
it waits for its valid/ready edge instead of polling every cycle. A watchdog fails the run when
neither stream moves for `idle_cycles` cycles, so a stuck engine never hangs the simulation.

This module imports only cocotb, numpy and the plain layout modules of `spikeloom.hw` (no
Amaranth): it runs inside the simulator's Python.
"""

import json
import os
import random
from pathlib import Path

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, Event, First, ReadOnly, RisingEdge, Timer
from spikeloom.hw import layout
from spikeloom.hw.params import EngineParams

__all__ = ["ENV_JOB", "PROGRESS", "PERIOD_STEPS", "EngineStuck", "stream_engine"]

#: Environment variable naming the job folder.
ENV_JOB = "SPIKELOOM_COCOTB_JOB"
#: File in the job folder that gets a line per sample done.
PROGRESS = "progress"
#: Clock period in simulator steps (the build sets a 1 ns step).
PERIOD_STEPS = 10


class EngineStuck(Exception):
    """Neither stream moved for the cycle budget."""


class Watchdog:
    """Bounds every wait for a stream's valid or ready to `idle_cycles` cycles."""

    def __init__(self, idle_cycles: int):
        self.idle_cycles = idle_cycles

    def timer(self) -> Timer:
        return Timer(self.idle_cycles * PERIOD_STEPS, unit="step")

    async def until_high(self, signal, what: str):
        """Wait (from ReadOnly) until `signal` rises, at most `idle_cycles` cycles."""
        timer = self.timer()
        fired = await First(RisingEdge(signal), timer)
        if fired is timer:
            raise EngineStuck(f"{what} stayed low for {self.idle_cycles} cycles")


def _int(signal, what: str) -> int:
    value = signal.value
    try:
        return value.to_unsigned()
    except ValueError:
        raise ValueError(f"{what} holds undefined bits: {value}") from None


async def _put(clk, stream, payloads, rng, stall: float, watchdog: Watchdog, what: str):
    """Offer each payload until it is taken; idle first with probability `stall` (per cycle)."""
    valid, payload, ready = stream
    valid.value = 0
    for word in payloads:
        idle = 0
        while stall and rng.random() < stall:
            idle += 1
        if idle:
            valid.value = 0
            await ClockCycles(clk, idle)
        payload.value = word
        valid.value = 1
        await ReadOnly()
        while ready.value != 1:
            await watchdog.until_high(ready, f"{what}.ready")
            await ReadOnly()
        await RisingEdge(clk)
    valid.value = 0


class Monitor:
    """Takes output events until `samples` SAMPLE_ENDs, recording the counters at each."""

    def __init__(self, dut, samples: int, params: EngineParams, progress=None):
        self.dut, self.samples, self.params = dut, samples, params
        self.progress = progress  # a line-buffered text file, or None
        name, width, _ = layout.output_fields(params)[0]
        assert name == "kind"  # the kind is the event's low bits
        self.kind_mask = (1 << width) - 1
        self.outputs: list[int] = []
        self.cycles: list[int] = []
        self.counters: list[list[list[int]]] = []

    def _record(self):
        values = layout.unpack_counters(self.params, _int(self.dut.counters, "counters"))
        self.cycles.append(values["cycles"])
        self.counters.append([values[name] for name in layout.LAYER_COUNTERS])
        if self.progress is not None:
            self.progress.write("1\n")

    async def run(self, clk, rng, stall: float, watchdog: Watchdog):
        dut = self.dut
        valid, payload, ready = dut.o_events__valid, dut.o_events__payload, dut.o_events__ready
        ready.value = 1
        taking = True
        while len(self.cycles) < self.samples:
            if stall:
                taking = rng.random() >= stall
                ready.value = int(taking)
            await ReadOnly()
            if valid.value != 1:
                await watchdog.until_high(valid, "o_events.valid")
                continue
            if taking:
                word = _int(payload, "o_events.payload")
                self.outputs.append(word)
                if word & self.kind_mask == layout.KIND_SAMPLE_END:
                    self._record()
            await RisingEdge(clk)
        ready.value = 1


def _save(folder: Path, monitor: Monitor, error: str | None, out_bits: int):
    outputs = (
        np.array(monitor.outputs, np.int64)
        if out_bits < 64
        else np.array([format(word, "x") for word in monitor.outputs])
    )
    np.savez(
        folder / "result.npz",
        outputs=outputs,
        cycles=np.array(monitor.cycles, np.int64),
        counters=np.array(monitor.counters, np.int64).reshape(
            len(monitor.cycles), len(layout.LAYER_COUNTERS), monitor.params.max_layers
        ),
        status=np.array(json.dumps({"completed": len(monitor.cycles), "error": error})),
    )


@cocotb.test()
async def stream_engine(dut):
    """Load the Program, stream every sample, collect outputs until the last SAMPLE_END."""
    folder = Path(os.environ[ENV_JOB])
    with np.load(folder / "job.npz") as job:
        config = [int(word, 16) for word in job["config"]]
        events = [int(word) for word in job["events"]]
        meta = json.loads(str(job["meta"]))
    stall, seed = meta["stall"], meta["seed"]
    progress = open(folder / PROGRESS, "a", buffering=1)
    monitor = Monitor(dut, meta["samples"], EngineParams(**meta["params"]), progress)
    watchdog = Watchdog(meta["idle_cycles"])
    error = None
    try:
        clk = dut.clk
        Clock(clk, PERIOD_STEPS, unit="step", impl="gpi").start()
        dut.i_config__valid.value = 0
        dut.i_events__valid.value = 0
        dut.o_events__ready.value = 0
        dut.rst.value = 1
        await ClockCycles(clk, 2)
        dut.rst.value = 0
        await RisingEdge(clk)

        failure = Event()
        errors: list[BaseException] = []

        async def guarded(coroutine):
            try:
                await coroutine
            except Exception as exc:
                errors.append(exc)
                failure.set()

        async def driver():
            config_stream = (dut.i_config__valid, dut.i_config__payload, dut.i_config__ready)
            event_stream = (dut.i_events__valid, dut.i_events__payload, dut.i_events__ready)
            await _put(clk, config_stream, config, None, 0.0, watchdog, "i_config")
            rng = random.Random(f"{seed}-driver")
            await _put(clk, event_stream, events, rng, stall, watchdog, "i_events")

        driving = cocotb.start_soon(guarded(driver()))
        monitoring = cocotb.start_soon(
            guarded(monitor.run(clk, random.Random(f"{seed}-monitor"), stall, watchdog))
        )
        await First(monitoring.complete, failure.wait())
        if errors:
            raise errors[0]
        if not driving.done():
            raise AssertionError(
                f"the engine ended {monitor.samples} samples before taking all input events"
            )
        # The sink must stay empty: nothing may follow the last SAMPLE_END.
        await ReadOnly()
        quiet = ClockCycles(clk, meta["quiet_cycles"])
        if dut.o_events__valid.value == 1 or (
            await First(RisingEdge(dut.o_events__valid), quiet) is not quiet
        ):
            raise AssertionError("the engine sent output events after the last SAMPLE_END")
    except BaseException as exc:
        error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        progress.close()
        _save(folder, monitor, error, meta["out_bits"])
