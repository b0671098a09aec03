"""A serial client (pyserial through a pseudo-terminal) runs Programs on the simulated board."""

import random

import numpy as np

from hw.board import Board
from sim.board_sim import SimTransport
from sim.pty_bridge import PtyBridge
from sw.device import Device
from sw.golden import run_golden
from sw.link import Link
from sw.serial_transport import SerialTransport
from tests.sw.test_device import PARAMS, small_program


def test_device_over_a_serial_port_equals_golden():
    program, spikes = small_program(4)
    board = Board(PARAMS, 1_000_000, 4, uart=False, fifo_depth=16, idle_timeout=2000)
    with PtyBridge(SimTransport(board, random.Random(4))) as bridge:
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


def test_a_missing_serial_port_is_a_clear_error():
    import pytest

    from sw.link import LinkError

    with pytest.raises(LinkError, match="cannot open serial port '/dev/nonexistent'"):
        SerialTransport("/dev/nonexistent")
