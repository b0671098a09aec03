"""A serial client (pyserial through a pseudo-terminal) runs Programs on the simulated board."""

import random

import numpy as np
from spikeloom.hw.serial_engine import SerialEngine
from spikeloom.sim.amaranth_transport import AmaranthTransport
from spikeloom.sim.pty_bridge import PtyBridge
from spikeloom.sw.compiler.golden import run_golden
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


def test_a_missing_serial_port_is_a_clear_error():
    import pytest
    from spikeloom.sw.runtime.codec import LinkError

    with pytest.raises(LinkError, match="cannot open serial port '/dev/nonexistent'"):
        SerialTransport("/dev/nonexistent")
