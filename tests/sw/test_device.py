"""The host runtime against the simulated board: load, verify, run, and fail without loss."""

import errno
import os
import random

import numpy as np
import pytest
from spikeloom.hw.protocol import Command
from spikeloom.hw.serial_engine import SerialEngine
from spikeloom.sim.amaranth_transport import AmaranthTransport
from spikeloom.sw.compiler.golden import run_golden
from spikeloom.sw.compiler.random_program import random_program, random_spikes
from spikeloom.sw.errors import ProgramError, RunError
from spikeloom.sw.runtime.codec import LinkLost
from spikeloom.sw.runtime.device import Device
from spikeloom.sw.runtime.link import Link
from spikeloom.sw.runtime.serial import SerialTransport

from tests.hw.test_command import PARAMS


def device(fifo_depth: int = 16, stall: float = 0.2, seed: int = 0):
    board = SerialEngine(PARAMS, 1_000_000, 4, uart=False, fifo_depth=fifo_depth, idle_timeout=2000)
    transport = AmaranthTransport(board, random.Random(seed), stall=stall)
    return Device(Link(transport, clock=transport.clock), timeout_s=0.01), transport


def small_program(seed: int):
    rng = np.random.default_rng(seed)
    while True:
        program = random_program(rng, max_layers=2, max_width=12, max_timesteps=3, max_v_bits=12)
        if max(layer.v_bits for layer in program.layers) <= PARAMS.max_v_bits:
            return program, random_spikes(rng, program, 3)


@pytest.mark.parametrize("seed", [1, 2])
def test_device_runs_programs_like_the_golden_model(seed):
    print(f"seed {seed}")
    program, spikes = small_program(seed)
    dev, _ = device(fifo_depth=8, seed=seed)
    assert dev.info().params == PARAMS and dev.info().clock_hz == 1_000_000
    dev.load(program)
    result = dev.run(program, spikes)
    golden = run_golden(program, spikes)
    np.testing.assert_array_equal(result.readout, golden.readout)
    for name, counts in golden.spikes.items():
        np.testing.assert_array_equal(result.spikes[name], counts)
    np.testing.assert_array_equal(result.counters["layer_events"][:, 0], spikes.sum(axis=(1, 2)))
    assert (result.cycles > 0).all() and result.lanes == PARAMS.lanes


def test_a_program_too_large_for_the_board_is_refused_before_loading():
    rng = np.random.default_rng(0)
    program = random_program(rng, max_layers=1, max_width=24)
    while program.layers[0].outputs <= PARAMS.max_neurons:
        program = random_program(rng, max_layers=1, max_width=24)
    dev, _ = device()
    with pytest.raises(ProgramError, match="does not fit the engine"):
        dev.load(program)


def test_a_board_that_stops_answering_keeps_completed_samples():
    program, spikes = small_program(3)
    dev, transport = device(stall=0.0)
    dev.load(program)
    first = dev.run(program, spikes[:1])
    transport.read = lambda max_bytes, timeout_s: b""  # the cable is pulled
    with pytest.raises(RunError, match="0 of 2 samples completed") as error:
        dev.run(program, spikes[1:])
    assert error.value.result.samples == 0 and error.value.result.requested == 2
    assert not error.value.interrupted
    assert len(first.readout) == 1 and first.requested is None and first.complete


def test_readout_only_returns_the_last_layer_with_less_traffic():
    program, spikes = small_program(7)
    while len(program.layers) < 2 or not program.layers[0].spiking:
        program, spikes = small_program(int(spikes.sum()) + 100)
    traffic = {}
    for readout_only in (False, True):
        dev, _ = device(stall=0.0)
        dev.load(program, verify=False, readout_only=readout_only)
        before = dev.link.bytes_received
        result = dev.run(program, spikes)
        traffic[readout_only] = dev.link.bytes_received - before
        golden = run_golden(program, spikes)
        np.testing.assert_array_equal(result.readout, golden.readout)
        reported = [layer.name for layer in program.layers if layer.spiking]
        if readout_only:
            reported = [name for name in reported if name == program.layers[-1].name]
        assert sorted(result.spikes) == sorted(reported)
        for name in result.spikes:
            np.testing.assert_array_equal(result.spikes[name], golden.spikes[name])
    assert golden.spikes[program.layers[0].name].any()  # else the comparison would say nothing
    assert traffic[True] < traffic[False]


# --- runs that break off ----------------------------------------------------------------------


class SamplesDone:
    """Watches the frames the host writes: `reached` turns True once `samples` samples have
    completed (the host asked for their counters and then sent its next request)."""

    def __init__(self, samples: int):
        self.samples, self.counters_asked, self.reached = samples, 0, False

    def saw(self, frame: bytes):
        self.reached = self.reached or self.counters_asked == self.samples
        if frame[2] == Command.COUNTERS:  # the Link writes whole frames: byte 2 is the command
            self.counters_asked += 1


class BreaksAfter:
    """Passes everything to the transport `inner` until `samples` samples have completed, then
    raises `failure` at the `calls`-th call of `method` ("read" or "write") from there on."""

    def __init__(self, inner, samples: int, failure: BaseException, calls: int, method: str):
        self.inner, self.done, self.failure = inner, SamplesDone(samples), failure
        self.calls, self.method = calls, method

    def _tick(self, method: str):
        if self.done.reached and method == self.method:
            self.calls -= 1
            if self.calls == 0:
                raise self.failure

    def write(self, data: bytes):
        self.done.saw(data)
        self._tick("write")
        self.inner.write(data)

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        self._tick("read")
        return self.inner.read(max_bytes, timeout_s)


def assert_first_samples_of_golden(program, spikes, result, completed: int):
    golden = run_golden(program, spikes[:completed])
    assert result.samples == completed and result.requested == len(spikes)
    assert not result.complete
    np.testing.assert_array_equal(result.readout, golden.readout)
    for name, counts in golden.spikes.items():
        np.testing.assert_array_equal(result.spikes[name], counts)
    events = result.counters["layer_events"][:, 0]
    np.testing.assert_array_equal(events, spikes[:completed].sum(axis=(1, 2)))
    assert result.cycles.shape == (completed,) and result.seconds.shape == (completed,)
    assert result.link_bytes.shape == (completed, 2)


@pytest.mark.parametrize("failure", ["ctrl-c", "bug"])
def test_a_run_broken_off_inside_the_transport_keeps_the_completed_samples(failure):
    seed = 11
    calls = random.Random(seed).randint(1, 6)
    print(f"seed {seed}: the transport breaks at read {calls} of the second sample")
    program, spikes = small_program(seed)
    dev, transport = device(stall=0.0, seed=seed)
    dev.load(program, verify=False)
    error = KeyboardInterrupt() if failure == "ctrl-c" else RuntimeError("the simulator broke")
    dev.link.transport = BreaksAfter(transport, 1, error, calls, "read")
    with pytest.raises(RunError) as raised:
        dev.run(program, spikes)
    if failure == "ctrl-c":
        assert raised.value.interrupted and raised.value.cause == "interrupted"
        assert str(raised.value) == "interrupted; 1 of 3 samples completed"
    else:
        assert not raised.value.interrupted
        assert str(raised.value) == "RuntimeError: the simulator broke; 1 of 3 samples completed"
        assert raised.value.__cause__ is error  # its traceback is kept for a bug report
    assert_first_samples_of_golden(program, spikes, raised.value.result, 1)


class FakePort:
    """The parts of a pyserial `Serial` that `SerialTransport` uses, over a simulated board.
    Once `samples` samples have completed, its `polls`-th look at the input fails with EIO, as
    when a USB board is unplugged."""

    def __init__(self, board, samples: int, polls: int):
        self.board, self.received = board, bytearray()
        self.done, self.polls = SamplesDone(samples), polls

    def write(self, data: bytes):
        self.done.saw(data)
        self.board.write(data)

    def flush(self):
        pass

    @property
    def in_waiting(self) -> int:
        if self.done.reached:
            self.polls -= 1
            if self.polls == 0:
                raise OSError(errno.EIO, os.strerror(errno.EIO))
        if not self.received:
            self.received += self.board.read(4096, 1e-3)
        return len(self.received)

    def read(self, size: int) -> bytes:
        data = bytes(self.received[:size])
        del self.received[:size]
        return data


def test_a_serial_port_that_goes_away_mid_run_keeps_the_completed_samples():
    seed = 12
    polls = random.Random(seed).randint(1, 3)  # a sample takes 3 requests or more
    print(f"seed {seed}: the port fails at poll {polls} of the third sample")
    program, spikes = small_program(seed)
    _, board = device(stall=0.0, seed=seed)
    serial = object.__new__(SerialTransport)  # a real SerialTransport on a fake port
    serial.port, serial.serial = "/dev/ttyUSB0", FakePort(board, 2, polls)
    dev = Device(Link(serial), timeout_s=5.0)  # wall-clock seconds: the simulation is slow
    dev.load(program, verify=False)
    with pytest.raises(RunError) as raised:
        dev.run(program, spikes)
    message = str(raised.value)
    assert message == (
        "the serial port /dev/ttyUSB0 went away: [Errno 5] Input/output error; "
        "2 of 3 samples completed"
    )
    assert not raised.value.interrupted and "\n" not in message
    assert_first_samples_of_golden(program, spikes, raised.value.result, 2)


def test_a_load_shows_progress_and_a_lost_transport_is_one_line(capsys):
    program, _ = small_program(13)
    dev, transport = device(stall=0.0)
    dev.load(program, progress=True)
    bar = capsys.readouterr().err
    assert "load" in bar and "word" in bar
    failure = OSError(errno.EIO, os.strerror(errno.EIO))
    dev.link.transport = BreaksAfter(transport, 0, failure, 5, "write")
    with pytest.raises(LinkLost) as raised:
        dev.load(program, verify=False)
    assert str(raised.value).startswith(
        "the link's transport (BreaksAfter) failed: [Errno 5] Input/output error; "
        "the load stopped after 4 of "
    )
    assert "\n" not in str(raised.value)
