"""A pseudo-terminal in front of the simulated board, so any serial client can talk to it.

`PtyBridge(transport)` opens a pty pair and, on a background thread, copies the bytes a client
writes to the terminal (`bridge.port`, e.g. /dev/pts/5) into `transport` (an `AmaranthTransport`
or a `VerilatorTransport` around the board's gateware) and the board's replies back, running
the simulation meanwhile.
"""

import os
import select
import threading
import tty

from spikeloom.sw.errors import SpikeloomError

__all__ = ["PtyBridge"]


class PtyBridge:
    """A simulated board behind a pseudo-terminal, served by a background thread from `with`
    (or `start()`) until `close()`.

    `poll_s` is simulated time per look at the terminal. After `idle_polls` looks without a
    byte either way the board is left alone (it waits for a command) and the thread sleeps.

    Replies the client has not read yet wait in a buffer; while it holds more than
    `max_pending` bytes the bridge neither reads the client's requests nor runs the board, so a
    client that writes without reading is held back (its writes block once the terminal is
    full), as by a real UART whose host stops reading, and nothing is dropped.

    `alive` is True while the thread serves. If anything stops it (the transport fails, the
    simulator exits, a bug), `alive` turns False, `error` holds the cause in one line, and the
    terminal closes, so that a client sees its serial port go away (EIO) rather than a board
    that no longer answers. `error` is None while the thread serves and after a `close()`.
    """

    def __init__(
        self, transport, poll_s: float = 1e-4, idle_polls: int = 200, max_pending: int = 1 << 16
    ):
        self.transport, self.poll_s, self.idle_polls = transport, poll_s, idle_polls
        self.max_pending = max_pending
        self.error: str | None = None
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # bytes pass unchanged: no echo, no line discipline
        self.port = os.ttyname(self.slave)
        self._fds = (self.master, self.slave)
        os.set_blocking(self.master, False)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="pty-bridge", daemon=True)

    @property
    def alive(self) -> bool:
        """Whether the thread is serving the terminal."""
        return self._thread.is_alive()

    def start(self) -> "PtyBridge":
        self._thread.start()
        return self

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def _serve(self):
        try:
            self._copy()
        except BaseException as error:  # whatever stops the board is reported, never swallowed
            if isinstance(error, SpikeloomError) and str(error):
                text = str(error)  # the simulator's own account, e.g. how it exited
            else:
                text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
            self.error = " ".join(text.split())
        finally:
            # Once started, the thread owns the terminal: closing it here, never under its feet,
            # means a descriptor is never closed (and its number reused) while still in use.
            self._close_terminal()

    def _copy(self):
        pending = bytearray()  # replies the terminal has not taken yet
        quiet = 0
        while not self._stop.is_set():
            if pending:
                try:
                    del pending[: os.write(self.master, pending)]
                except BlockingIOError:
                    pass
            if len(pending) > self.max_pending:
                # Back-pressure: wait until the client reads (or a close), and meanwhile take
                # no requests and leave the board's time standing.
                select.select([], [self.master], [], 0.01)
                continue
            try:
                data = os.read(self.master, 4096)
            except BlockingIOError:
                data = b""
            if data:
                self.transport.write(data)
                quiet = 0
            if quiet >= self.idle_polls:
                # Nothing either way for a while: sleep until the client writes (or reads the
                # pending replies), instead of simulating an idle board.
                select.select([self.master], [self.master] if pending else [], [], 0.001)
                continue
            reply = self.transport.read(4096, self.poll_s)
            if reply:
                pending += reply
                quiet = 0
            else:
                quiet += 1

    def close(self):
        """Stop the thread and close the terminal (not the transport, which the caller owns)."""
        self._stop.set()
        if self._thread.ident is None:  # never started: the terminal is still ours to close
            self._close_terminal()
        elif self._thread.is_alive():
            self._thread.join(timeout=5)

    def _close_terminal(self):
        fds, self._fds = self._fds, ()  # once only: a closed number may be reused at once
        for fd in fds:
            os.close(fd)
