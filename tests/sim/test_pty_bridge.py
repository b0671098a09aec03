"""A serial client (pyserial through a pseudo-terminal) runs Programs on the simulated board;
the bridge holds back a client that does not read, and reports whatever stops it."""

import os
import random
import select
import time
import tty

import numpy as np
import pytest
from spikeloom.hw.protocol import REPLY, Command
from spikeloom.hw.serial_engine import SerialEngine
from spikeloom.sim.amaranth_transport import AmaranthTransport
from spikeloom.sim.pty_bridge import PtyBridge
from spikeloom.sim.verilator_transport import HarnessExited
from spikeloom.sw.compiler.golden import run_golden
from spikeloom.sw.runtime.codec import Frame, FrameDecoder, LinkLost, encode_frame
from spikeloom.sw.runtime.device import Device
from spikeloom.sw.runtime.link import Link
from spikeloom.sw.runtime.serial import SerialTransport

from tests.sw.test_device import PARAMS, small_program


def test_device_over_a_serial_port_equals_golden():
    program, spikes = small_program(4)
    board = SerialEngine(PARAMS, 1_000_000, 4, uart=False, fifo_depth=16, idle_timeout=2000)
    with PtyBridge(AmaranthTransport(board, random.Random(4))) as bridge:
        serial = SerialTransport(bridge.port, 3_000_000)
        try:
            device = Device(Link(serial), timeout_s=2.0)
            device.load(program)
            result = device.run(program, spikes[:2])
            link = device.link
        finally:
            serial.close()
    golden = run_golden(program, spikes[:2])
    np.testing.assert_array_equal(result.readout, golden.readout)
    for name, counts in golden.spikes.items():
        np.testing.assert_array_equal(result.spikes[name], counts)
    assert link.bytes_sent > 0 and link.bytes_received > 0


class InstantBoard:
    """A transport that answers every request frame at once, INFO with a long payload, however
    the byte stream is split, and hands out at most `max_bytes` of its replies a read, as a
    simulated board does: here the bridge is under test, not the gateware (which is far too
    slow in simulation to answer thousands of requests in a test)."""

    INFO = bytes(range(200))

    def __init__(self):
        self.decoder, self.out = FrameDecoder(), bytearray()
        self.answered = self.handed_out = 0

    def write(self, data: bytes):
        for event in self.decoder.feed(data):
            if isinstance(event, Frame):
                payload = self.INFO if event.command == Command.INFO else b""
                self.out += encode_frame(event.seq, event.command | REPLY, payload)
                self.answered += 1

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        data = bytes(self.out[:max_bytes])
        del self.out[:max_bytes]
        self.handed_out += len(data)
        return data


def open_client(port: str) -> int:
    client = os.open(port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    tty.setraw(client)
    return client


def test_a_client_that_writes_without_reading_holds_the_board_back_and_loses_nothing():
    """3000 requests written without a read: their 620 KB of replies overflow the terminal,
    which made the bridge's thread die with BlockingIOError before it kept them."""
    count = 3000
    requests = b"".join(encode_frame(i & 0xFF, Command.INFO) for i in range(count))
    board = InstantBoard()
    with PtyBridge(board) as bridge:
        client = open_client(bridge.port)
        try:
            # Generous: a loaded machine (a parallel test run) serves the pty far slower.
            written, deadline = 0, time.monotonic() + 60
            while written < len(requests) and time.monotonic() < deadline:
                try:
                    written += os.write(client, requests[written : written + 4096])
                except BlockingIOError:
                    time.sleep(0.005)
            assert written == len(requests)
            # Not reading, the client holds the board back: the bridge stops taking its
            # replies once its own buffer is full, and they wait on the board, or (when the
            # requests reached the bridge more slowly than it took replies, as on a loaded
            # machine) its requests wait in the terminal.
            handed_out = None
            while handed_out != board.handed_out:
                handed_out = board.handed_out
                time.sleep(0.3)
            held_back = board.out or board.answered < count
            assert held_back, "every reply went out although the client read none"
            # What left the board sits in the bridge (64 KiB and one read at most) and in the
            # terminal's own buffers (a few KiB; 64 KiB is generous).
            assert handed_out <= bridge.max_pending + 4096 + (1 << 16)
            assert bridge.alive and bridge.error is None
            # Reading now gets every reply, in order.
            decoder, replies = FrameDecoder(), []
            deadline = time.monotonic() + 30
            while len(replies) < count and time.monotonic() < deadline:
                select.select([client], [], [], 0.01)
                try:
                    replies += decoder.feed(os.read(client, 1 << 16))
                except BlockingIOError:
                    pass
        finally:
            os.close(client)
        assert board.answered == count
        assert [(r.seq, r.command, r.payload) for r in replies] == [
            (i & 0xFF, Command.INFO | REPLY, InstantBoard.INFO) for i in range(count)
        ]
        assert bridge.alive and bridge.error is None
        serial = SerialTransport(bridge.port)
        try:
            assert Link(serial).request(Command.INFO, timeout_s=2.0) == InstantBoard.INFO
        finally:
            serial.close()
        assert bridge.alive and bridge.error is None
    assert not bridge.alive and bridge.error is None


class FailingBoard(InstantBoard):
    """Answers like `InstantBoard`, but fails at the first read after a second request."""

    def __init__(self, failure: BaseException):
        super().__init__()
        self.failure = failure

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        if self.answered >= 2:
            raise self.failure
        return super().read(max_bytes, timeout_s)


@pytest.mark.parametrize(
    "failure, error",
    [
        (RuntimeError("the simulator\ncrashed"), "RuntimeError: the simulator crashed"),
        (
            HarnessExited("the Verilator board (vb) stopped taking input and exited with code -9"),
            "the Verilator board (vb) stopped taking input and exited with code -9",
        ),
    ],
)
def test_a_transport_that_fails_stops_the_bridge_which_says_why(failure, error):
    with PtyBridge(FailingBoard(failure)) as bridge:
        serial = SerialTransport(bridge.port)
        try:
            link = Link(serial)
            assert link.request(Command.INFO, timeout_s=2.0) == InstantBoard.INFO
            assert bridge.alive and bridge.error is None
            # The terminal closes with the thread: the client sees its port go away at once,
            # not a board that stops answering.
            started = time.monotonic()
            with pytest.raises(LinkLost, match=f"the serial port {bridge.port} went away"):
                link.request(Command.INFO, timeout_s=2.0)
            assert time.monotonic() - started < 1.0
            assert bridge.error == error
            deadline = time.monotonic() + 1  # it ends just after closing the terminal
            while bridge.alive and time.monotonic() < deadline:
                time.sleep(0.01)
            assert not bridge.alive
        finally:
            serial.close()
    assert bridge.error == error  # a close() keeps the cause


def test_a_bridge_closed_before_or_after_serving_is_quiet():
    unstarted = PtyBridge(InstantBoard())
    unstarted.close()
    unstarted.close()
    assert not unstarted.alive and unstarted.error is None
    bridge = PtyBridge(InstantBoard()).start()
    assert bridge.alive
    bridge.close()
    bridge.close()
    assert not bridge.alive and bridge.error is None
