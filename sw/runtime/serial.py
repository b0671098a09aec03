"""A link transport over a serial port (pyserial): a real board, or any pseudo-terminal."""

import time

from spikeloom.sw.runtime.codec import LinkError

__all__ = ["SerialTransport"]


class SerialTransport:
    """`write(bytes)`; `read(max_bytes, timeout_s)` returns as soon as any bytes arrived, or
    `b""` after `timeout_s` (plain `Serial.read(n)` would wait for all n)."""

    def __init__(self, port: str, baud: int = 115200):
        import serial  # pyserial, imported here so that nothing else needs it

        try:
            self.serial = serial.Serial(port, baud, timeout=0)
        except (serial.SerialException, OSError, ValueError) as error:
            raise LinkError(f"cannot open serial port {port!r} at {baud} baud: {error}") from None

    def write(self, data: bytes) -> None:
        self.serial.write(data)
        self.serial.flush()

    def read(self, max_bytes: int, timeout_s: float) -> bytes:
        deadline = time.monotonic() + max(timeout_s, 0.0)
        while True:
            waiting = self.serial.in_waiting
            if waiting:
                return self.serial.read(min(waiting, max_bytes))
            if time.monotonic() >= deadline:
                return b""
            time.sleep(0.0005)

    def close(self) -> None:
        self.serial.close()
