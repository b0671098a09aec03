"""A link transport over a serial port (pyserial): a real board, or any pseudo-terminal."""

import time

from spikeloom.sw.runtime.codec import LinkError, LinkLost

__all__ = ["SerialTransport"]

try:
    from termios import error as _TermiosError
except ImportError:  # not a POSIX system: pyserial reports everything as OSError there

    class _TermiosError(Exception):
        pass


class SerialTransport:
    """`write(bytes)`; `read(max_bytes, timeout_s)` returns as soon as any bytes arrived, or
    `b""` after `timeout_s` (plain `Serial.read(n)` would wait for all n).

    A port that fails once open (a USB board unplugged: EIO; the other side of a pseudo-terminal
    closed) raises `LinkLost`, "the serial port PORT went away: CAUSE".
    """

    def __init__(self, port: str, baud: int = 115200):
        import serial  # pyserial, imported here so that nothing else needs it

        self.port = port
        try:
            self.serial = serial.Serial(port, baud, timeout=0)
        except (serial.SerialException, OSError, ValueError) as error:
            raise LinkError(f"cannot open serial port {port!r} at {baud} baud: {error}") from None

    def write(self, data: bytes) -> None:
        try:
            self.serial.write(data)
            self.serial.flush()
        except (OSError, _TermiosError) as error:  # SerialException is an OSError
            raise self._lost(error) from None

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        deadline = time.monotonic() + max(timeout_s, 0.0)
        while True:
            try:
                waiting = self.serial.in_waiting
                if waiting:
                    return self.serial.read(min(waiting, max_bytes))
            except (OSError, _TermiosError) as error:
                raise self._lost(error) from None
            if time.monotonic() >= deadline:
                return b""
            time.sleep(0.0005)

    def _lost(self, error: Exception) -> LinkLost:
        if isinstance(error, _TermiosError) and len(error.args) == 2:
            # flush() reports EIO as termios.error(5, "Input/output error"): say it as OSError
            error = OSError(*error.args)
        return LinkLost(f"the serial port {self.port} went away: {error}")

    def close(self) -> None:
        try:
            self.serial.close()
        except (OSError, _TermiosError):
            pass  # a port that went away is closed all the same; its loss was reported already
