"""A pseudo-terminal in front of the simulated board, so any serial client can talk to it.

`PtyBridge(transport)` opens a pty pair and, on a background thread, copies the bytes a client
writes to the terminal (`bridge.port`, e.g. /dev/pts/5) into `transport` (a `AmaranthTransport`
around the board's gateware) and the board's replies back, running the simulation meanwhile.
"""

import os
import threading
import tty

__all__ = ["PtyBridge"]


class PtyBridge:
    """`poll_s` is simulated time per look at the terminal. After `idle_polls` looks without a
    byte either way the board is left alone (it waits for a command) and the thread sleeps."""

    def __init__(self, transport, poll_s: float = 1e-4, idle_polls: int = 200):
        self.transport, self.poll_s, self.idle_polls = transport, poll_s, idle_polls
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # bytes pass unchanged: no echo, no line discipline
        self.port = os.ttyname(self.slave)
        os.set_blocking(self.master, False)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="pty-bridge", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.close()

    def _serve(self):
        quiet = 0
        while not self._stop.is_set():
            try:
                data = os.read(self.master, 4096)
            except BlockingIOError:
                data = b""
            except OSError:  # the terminal went away
                return
            if data:
                self.transport.write(data)
                quiet = 0
            if quiet >= self.idle_polls:
                self._stop.wait(0.001)
                continue
            reply = self.transport.read(4096, self.poll_s)
            if reply:
                os.write(self.master, reply)
                quiet = 0
            else:
                quiet += 1

    def close(self):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass
