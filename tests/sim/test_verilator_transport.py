"""The full board top level, UART included, under Verilator, driven by the host's own byte stream.

One board (a cached build, `ENVELOPE` at `LANES`) and one `Device` serve the whole module, so
the suite compiles once and later runs start at once; Programs load one after another onto it,
as they would onto a real board. SPIKELOOM_SEED sets the random Programs and the fuzz; every
seed is printed for replay.
"""

import os
import random
import shutil
import signal
import stat
import time

import numpy as np
import pytest
from spikeloom.hw.params import EngineParams
from spikeloom.hw.protocol import MAX_PAYLOAD, PROTOCOL_VERSION, SYNC, Command
from spikeloom.sim import verilator_transport as vt
from spikeloom.sim.cocotb_backend import simulator_missing
from spikeloom.sim.pty_bridge import PtyBridge
from spikeloom.sw.compiler.golden import run_golden
from spikeloom.sw.compiler.random_program import random_program, random_spikes
from spikeloom.sw.errors import RunError
from spikeloom.sw.runtime.codec import encode_frame
from spikeloom.sw.runtime.device import Device
from spikeloom.sw.runtime.link import Link
from spikeloom.sw.runtime.serial import SerialTransport

from tests.golden_check import assert_matches_golden
from tests.sw.test_device import SamplesDone, assert_first_samples_of_golden

SEED = int(os.environ.get("SPIKELOOM_SEED", "7"))
CLOCK_HZ, BAUD = vt.DEFAULT_CLOCK_HZ, vt.DEFAULT_BAUD
DIVISOR = 16  # hw.uart.divisor_for(CLOCK_HZ, BAUD)
LANES = 4
RANDOM = dict(max_layers=3, max_width=12, max_timesteps=4, max_v_bits=12)
#: Every Program `RANDOM` draws fits: 12-wide layers, 8-bit weights, 12-bit membranes.
ENVELOPE = EngineParams(
    lanes=LANES,
    max_layers=3,
    max_inputs=12,
    max_neurons=12,
    weight_words=3 * 12 * 3,
    max_v_bits=12,
    max_weight_bits=8,
    max_timesteps=4,
    current_bits=16,  # 12 inputs x 7 spikes x 128 < 2^15
)
#: Simulated seconds a reply may take. The longest waits are after garbage: a request caught
#: behind a truncated frame waits until the board drops it, an idle frame time (1031 bytes at
#: 3 Mbaud: 3.4 ms) per such candidate. A working board never makes the host wait this long.
TIMEOUT_S = 0.05


@pytest.fixture(scope="module")
def board():
    missing = simulator_missing("verilator")
    if missing:
        pytest.skip(missing)
    with vt.VerilatorTransport(ENVELOPE, CLOCK_HZ, DIVISOR) as transport:
        yield transport


@pytest.fixture(scope="module")
def device(board):
    """One host for the module: a second Link would restart at seq 0, which the board may take
    for a retry of its last command."""
    return Device(Link(board, clock=board.clock), timeout_s=TIMEOUT_S)


def test_the_default_clock_gives_16_cycles_a_bit_at_3_mbaud():
    from spikeloom.hw.uart import divisor_for

    assert divisor_for(CLOCK_HZ, BAUD) == DIVISOR


def test_info_comes_back_in_uart_time(board, device):
    info = device.info()
    assert info.params == ENVELOPE and info.clock_hz == CLOCK_HZ
    start, link = board.clock(), device.link
    before = link.bytes_sent + link.bytes_received
    assert link.request(Command.INFO, timeout_s=TIMEOUT_S)[0] == PROTOCOL_VERSION
    link_bytes = link.bytes_sent + link.bytes_received - before
    elapsed = board.clock() - start
    # Every byte takes 10 bit times each way; a few bit times more for the board's turnaround
    # and the read's idle wait.
    assert link_bytes > 50
    assert link_bytes * 10 / BAUD <= elapsed < (link_bytes * 10 + 40) / BAUD
    assert board.framing_errors == 0


@pytest.mark.parametrize("index", range(4))
def test_random_programs_match_the_golden_model(device, index):
    seed = SEED * 1000 + index
    print(f"replay with np.random.default_rng({seed})")
    rng = np.random.default_rng(seed)
    program = random_program(rng, **RANDOM)
    spikes = random_spikes(rng, program, 3)
    device.load(program)
    result = device.run(program, spikes)
    assert_matches_golden(program, spikes, result, f"Verilator board, seed {seed}")
    assert (result.cycles > 0).all() and result.lanes == LANES
    np.testing.assert_array_equal(result.counters["layer_events"][:, 0], spikes.sum(axis=(1, 2)))


def test_every_neuron_kind_runs_in_readout_only_mode(device):
    rng = np.random.default_rng(SEED)
    kinds = set()
    for _ in range(40):
        program = random_program(rng, **RANDOM)
        spikes = random_spikes(rng, program, 2)
        kinds |= {layer.neuron for layer in program.layers}
        device.load(program, verify=False, readout_only=True)
        result = device.run(program, spikes)
        golden = run_golden(program, spikes)
        np.testing.assert_array_equal(result.readout, golden.readout, err_msg=f"seed {SEED}")
        if kinds == {"lif", "lifb", "readout"}:
            break
    assert kinds == {"lif", "lifb", "readout"}, f"seed {SEED} drew only {kinds}"


def garbage(rng: random.Random, seq: int) -> bytes:
    """Random bytes, truncated frames, frames with bad CRCs or oversized lengths, in random order.

    No header in it carries `seq`, the seq of the request that follows: the board answers a
    garbled frame with an error under the frame's seq, and the host would rightly take that
    error for the answer to its own request.
    """
    others = [value for value in range(256) if value != seq]
    parts = []
    for _ in range(rng.randint(3, 8)):
        command = rng.choice([rng.randrange(1, 8), rng.randrange(256)])
        frame = bytearray(encode_frame(rng.choice(others), command, rng.randbytes(5)))
        kind = rng.choice(["noise", "truncated", "long", "bad crc", "bad length"])
        if kind == "noise":
            parts.append(rng.randbytes(rng.randint(1, 40)))
        elif kind == "truncated":
            parts.append(bytes(frame[: rng.randint(1, len(frame) - 1)]))
        elif kind == "long":
            # A header promising more than follows: the board waits for the rest, swallowing
            # the bytes after it, until a CRC fails or the line has been idle for a frame time.
            frame[3:5] = rng.randrange(6, MAX_PAYLOAD + 1).to_bytes(2, "little")
            parts.append(bytes(frame[: rng.randint(5, len(frame))]))
        elif kind == "bad crc":
            frame[-rng.randint(1, 2)] ^= 1 << rng.randrange(8)
            parts.append(bytes(frame))
        else:
            frame[3:5] = rng.randrange(MAX_PAYLOAD + 1, 1 << 16).to_bytes(2, "little")
            parts.append(bytes(frame))
    stream = bytearray(b"".join(parts))
    for index in range(1, len(stream)):
        if stream[index - 1] == SYNC and stream[index] == seq:
            stream[index] ^= 0x80
    return bytes(stream)


@pytest.mark.parametrize("index", range(4))
def test_the_board_answers_after_garbage(board, device, index):
    seed = SEED * 1000 + index
    print(f"fuzz seed {seed}")
    rng = random.Random(seed)
    program = random_program(np.random.default_rng(seed), **RANDOM)
    spikes = random_spikes(np.random.default_rng(seed), program, 2)
    device.load(program, verify=False)
    board.write(garbage(rng, device.link.next_seq))
    payload = device.link.request(Command.INFO, timeout_s=TIMEOUT_S)
    assert payload[0] == PROTOCOL_VERSION
    board.write(garbage(rng, device.link.next_seq))
    result = device.run(program, spikes)
    assert_matches_golden(program, spikes, result, f"after garbage, fuzz seed {seed}")
    assert board.framing_errors == 0


def test_a_dead_simulator_is_a_link_error_that_keeps_completed_samples(board):
    rng = np.random.default_rng(SEED)
    program = random_program(rng, **RANDOM)
    spikes = random_spikes(rng, program, 2)
    # A second process from the same cached build: it starts at once and leaves `board` alone.
    with vt.VerilatorTransport(ENVELOPE, CLOCK_HZ, DIVISOR) as transport:
        dev = Device(Link(transport, clock=transport.clock), timeout_s=TIMEOUT_S)
        dev.load(program, verify=False)
        first = dev.run(program, spikes[:1])
        transport.process.kill()
        with pytest.raises(RunError, match="exited with code -9.*; 0 of 1 samples completed"):
            dev.run(program, spikes[1:])
        assert len(first.readout) == 1
        with pytest.raises(vt.VerilatorTransportError, match="closed"):
            transport.read(10, 1.0)


class Hook:
    """A transport that passes everything to `inner` and calls `action` at the `calls`-th write
    once `samples` samples have completed."""

    def __init__(self, inner, samples: int, calls: int, action):
        self.inner, self.done, self.calls, self.action = inner, SamplesDone(samples), calls, action

    def write(self, data: bytes):
        self.done.saw(data)
        if self.done.reached:
            self.calls -= 1
            if self.calls == 0:
                self.action()
        self.inner.write(data)

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        return self.inner.read(max_bytes, timeout_s)


def loss_case(index: int, samples: int = 4):
    """A Program, its spikes, and where in the third sample to break the run off."""
    seed = SEED * 1000 + 500 + index
    rng = np.random.default_rng(seed)
    program = random_program(rng, **RANDOM)
    spikes = random_spikes(rng, program, samples)
    calls = random.Random(seed).randint(1, 3)  # a sample takes 3 requests or more
    print(f"replay with np.random.default_rng({seed}); the run breaks at write {calls}")
    return program, spikes, calls


def assert_ended(transport):
    """The harness is gone and waited for (no zombie), and closing again is immediate."""
    assert transport.closed and transport.process.returncode is not None
    started = time.monotonic()
    transport.close()
    assert time.monotonic() - started < 0.1
    with pytest.raises(vt.HarnessExited, match="closed"):
        transport.read(10, 1.0)


def test_a_harness_killed_mid_run_keeps_the_completed_samples():
    program, spikes, calls = loss_case(0)
    with vt.VerilatorTransport(ENVELOPE, CLOCK_HZ, DIVISOR) as transport:
        kill = lambda: os.kill(transport.process.pid, signal.SIGKILL)  # noqa: E731
        dev = Device(Link(Hook(transport, 2, calls, kill), clock=transport.clock), TIMEOUT_S)
        dev.load(program, verify=False)
        with pytest.raises(RunError) as raised:
            dev.run(program, spikes)
        message = str(raised.value)
        assert message.startswith(f"the Verilator board ({transport.executable}) ")
        assert "exited with code -9" in message and "\n" not in message
        assert message.endswith("; 2 of 4 samples completed") and not raised.value.interrupted
        assert_first_samples_of_golden(program, spikes, raised.value.result, 2)
        assert transport.process.returncode == -9
        assert_ended(transport)


def test_ctrl_c_mid_exchange_keeps_the_completed_samples_and_ends_the_harness():
    program, spikes, calls = loss_case(1)
    with vt.VerilatorTransport(ENVELOPE, CLOCK_HZ, DIVISOR) as transport:
        # The terminal's Ctrl-C goes to its foreground process group: not to the harness,
        # which has a session of its own, only to the host.
        assert os.getsid(transport.process.pid) == transport.process.pid != os.getsid(0)
        receive, interrupt = transport._receive, []

        def receive_interrupted(size: int) -> bytes:
            if interrupt:  # between the harness's command and its answer
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(5)  # the KeyboardInterrupt comes here, at once
            return receive(size)

        transport._receive = receive_interrupted
        link = Link(Hook(transport, 2, calls, lambda: interrupt.append(1)), clock=transport.clock)
        dev = Device(link, timeout_s=TIMEOUT_S)
        dev.load(program, verify=False)
        started = time.monotonic()
        with pytest.raises(RunError) as raised:
            dev.run(program, spikes)
        assert time.monotonic() - started < 4
        assert raised.value.interrupted
        assert str(raised.value) == "interrupted; 2 of 4 samples completed"
        assert_first_samples_of_golden(program, spikes, raised.value.result, 2)
        assert_ended(transport)


def test_a_bridged_board_whose_harness_dies_is_a_serial_port_gone_away():
    """`spikeloom bridge` and a client on its terminal: the simulator killed mid-run stops the
    bridge, which says why, and the client keeps its completed samples."""
    program, spikes, calls = loss_case(2, samples=3)
    with vt.VerilatorTransport(ENVELOPE, CLOCK_HZ, DIVISOR) as transport:
        with PtyBridge(transport) as bridge:
            serial = SerialTransport(bridge.port, BAUD)
            try:
                kill = lambda: os.kill(transport.process.pid, signal.SIGKILL)  # noqa: E731
                # Wall-clock seconds: the bridge runs the board slower than real time.
                dev = Device(Link(Hook(serial, 2, calls, kill)), timeout_s=2.0)
                dev.load(program, verify=False)
                with pytest.raises(RunError) as raised:
                    dev.run(program, spikes)
            finally:
                serial.close()
            assert str(raised.value) == (
                f"the serial port {bridge.port} went away: [Errno 5] Input/output error; "
                "2 of 3 samples completed"
            )
            assert_first_samples_of_golden(program, spikes, raised.value.result, 2)
            assert not bridge.alive and "exited with code -9" in bridge.error
        assert_ended(transport)


def test_a_missing_verilator_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(vt, "verilator_executable", lambda: None)
    with pytest.raises(vt.VerilatorBuildError, match="Verilator not found"):
        vt.VerilatorTransport(ENVELOPE, CLOCK_HZ, DIVISOR, build_dir=tmp_path)


def test_a_failed_build_names_its_log_and_is_not_cached(monkeypatch, tmp_path):
    if shutil.which("make") is None or shutil.which("g++") is None:
        pytest.skip("make and g++ are needed to get as far as a Verilator run")
    broken = tmp_path / "verilator"
    broken.write_text("#!/bin/sh\necho '%Error: no licence to verilate' >&2\nexit 1\n")
    broken.chmod(broken.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(vt, "verilator_executable", lambda: str(broken))
    with pytest.raises(vt.VerilatorBuildError, match=r"failed \(exit 1\); log .*build\.log"):
        vt.VerilatorTransport(ENVELOPE, CLOCK_HZ, DIVISOR, build_dir=tmp_path / "cache")
    (folder,) = (tmp_path / "cache" / "verilator-transport").glob("*/")
    assert "no licence" in (folder / "build.log").read_text()
    assert not (folder / "built.json").exists()  # the next try builds again


def test_a_waveform_needs_a_known_format(tmp_path):
    with pytest.raises(ValueError, match=r"\.fst or \.vcd"):
        vt.VerilatorTransport(ENVELOPE, CLOCK_HZ, DIVISOR, waves=tmp_path / "board.ghw")


def test_the_icebreaker_engine_as_built_runs_like_the_golden_model(tmp_path):
    """`spikeloom run --board sim:icebreaker`: the iCEBreaker's exact engine (16 lanes, one
    pipelined LIF unit, 24 MHz, 3 Mbaud), UART included, on Programs that fit it."""
    from spikeloom.boards import board_spec
    from spikeloom.sw.cli import main
    from spikeloom.sw.compiler.fit import check_fits
    from spikeloom.sw.compiler.program import save_program

    params = board_spec("icebreaker").params
    rng = np.random.default_rng(SEED + 40)
    for index in range(2):
        while True:
            program = random_program(rng, max_layers=2, max_width=40, max_timesteps=3)
            if check_fits(program, params)[0]:
                break
        spikes = random_spikes(rng, program, 2)
        print(f"SPIKELOOM_SEED={SEED} icebreaker program {index}")
        save_program(program, tmp_path / f"p{index}")
        np.save(tmp_path / f"x{index}.npy", spikes)
        out = tmp_path / f"r{index}.npz"
        argv = ["run", str(tmp_path / f"p{index}"), "--board", "sim:icebreaker"]
        assert main([*argv, "--input", str(tmp_path / f"x{index}.npy"), "--out", str(out)]) == 0
        golden = run_golden(program, spikes)
        with np.load(out) as result:
            np.testing.assert_array_equal(result["readout"], golden.readout)
            for name, layer_spikes in golden.spikes.items():
                np.testing.assert_array_equal(result[f"{name}.spikes"], layer_spikes)
