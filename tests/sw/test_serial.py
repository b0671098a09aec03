"""The serial transport on a real pseudo-terminal: bytes both ways, and a port that goes away."""

import os
import tty

import pytest
from spikeloom.sw.runtime.codec import LinkError, LinkLost
from spikeloom.sw.runtime.serial import SerialTransport


@pytest.fixture
def pty_pair():
    """(master fd, the serial transport on the slave); the test may close the master."""
    master, slave = os.openpty()
    tty.setraw(slave)
    transport = SerialTransport(os.ttyname(slave), 115200)
    os.close(slave)  # the transport holds its own descriptor
    state = {"master": master}
    yield state, transport
    transport.close()
    if state["master"] is not None:
        os.close(state["master"])


def test_bytes_pass_both_ways(pty_pair):
    state, transport = pty_pair
    transport.write(b"\xa5hello")
    assert os.read(state["master"], 100) == b"\xa5hello"
    assert transport.read(100, 0.01) == b""
    os.write(state["master"], b"reply")
    assert transport.read(3, 1.0) == b"rep"
    assert transport.read(100, 1.0) == b"ly"


@pytest.mark.parametrize("call", ["read", "write"])
def test_a_port_whose_other_side_closes_is_a_link_lost_naming_it(pty_pair, call):
    state, transport = pty_pair
    os.close(state["master"])  # as when a USB board is unplugged: the port answers EIO
    state["master"] = None
    with pytest.raises(LinkLost) as raised:
        transport.read(10, 0.1) if call == "read" else transport.write(b"\xa5")
    message = str(raised.value)
    assert message.startswith(f"the serial port {transport.port} went away: ")
    assert "Input/output error" in message and "\n" not in message
    assert isinstance(raised.value, LinkError)
    transport.close()  # closing a port that went away is quiet


def test_a_missing_serial_port_is_a_clear_error():
    with pytest.raises(LinkError, match="cannot open serial port '/dev/nonexistent'"):
        SerialTransport("/dev/nonexistent")
