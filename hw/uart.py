"""A UART for the board's host link: 8 data bits, no parity, 1 stop bit, LSB first, idle high.

The bit time is fixed at build time as `divisor` clock cycles per bit (see `divisor_for`); the
host link runs at one baud rate, so a run-time divisor port would only cost logic.

Both directions are `amaranth.lib.stream` stages of one byte:
- `UARTTransmitter` takes a byte on `i_data` only when its line is free, so a producer that keeps
  `valid` high gets back-to-back frames of exactly 10 bit times each.
- `UARTReceiver` puts each correctly framed byte on `o_data`. It holds one byte: if the consumer
  has not taken it when the next byte's stop bit is sampled, the new byte is lost and `overrun`
  pulses for one cycle (once per lost byte). A frame whose stop bit is low is dropped and `error`
  pulses for one cycle.
- `UART` is the pair, for a board top level that passes in the `rx`/`tx` pins.
"""

from amaranth import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out, connect, flipped

__all__ = ["UART", "UARTReceiver", "UARTTransmitter", "divisor_for"]

#: Fewest clock cycles per bit: the receiver samples `divisor // 2` cycles after the start bit's
#: edge and needs a cycle or two of margin either side of that sample for baud mismatch.
MIN_DIVISOR = 4

#: Largest baud error `divisor_for` accepts. Over the 9.5 bit times from the start bit's edge to
#: the stop bit's sample, 2% adds up to a fifth of a bit, leaving margin for edge detection.
MAX_BAUD_ERROR = 0.02


def divisor_for(clock_hz: float, baud: float) -> int:
    """Clock cycles per bit for `baud` at `clock_hz`: `round(clock_hz / baud)`.

    Raises ValueError when the rounded divisor misses `baud` by more than 2% or is below 4.
    """
    if clock_hz <= 0 or baud <= 0:
        raise ValueError(f"clock {clock_hz} Hz and baud {baud} must both be positive")
    divisor = round(clock_hz / baud)
    if divisor < MIN_DIVISOR:
        raise ValueError(
            f"clock {clock_hz} Hz / baud {baud} gives divisor {divisor}, "
            f"below the minimum of {MIN_DIVISOR} cycles per bit"
        )
    error = abs(clock_hz / divisor - baud) / baud
    if error > MAX_BAUD_ERROR:
        raise ValueError(
            f"clock {clock_hz} Hz / baud {baud}: divisor {divisor} gives "
            f"{clock_hz / divisor:.1f} baud, a {error:.1%} error (limit {MAX_BAUD_ERROR:.0%})"
        )
    return divisor


def _check_divisor(divisor) -> int:
    if not isinstance(divisor, int) or divisor < MIN_DIVISOR:
        raise ValueError(f"divisor {divisor!r} must be an int of at least {MIN_DIVISOR}")
    return divisor


class UARTTransmitter(wiring.Component):
    """Sends each byte accepted on `i_data` on `tx`: start bit, 8 data bits LSB first, stop bit.

    `i_data.ready` is high while the line is idle and in the last cycle of a stop bit, so a byte
    offered while a frame is going out waits, and a steady stream of bytes goes out with no gap.
    `tx` comes straight from a flip-flop, so the pin never glitches.
    """

    i_data: In(stream.Signature(8))
    tx: Out(1, init=1)

    def __init__(self, divisor: int):
        self.divisor = _check_divisor(divisor)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        busy = Signal()
        timer = Signal(range(self.divisor))  # cycles left in the current bit, minus one
        bits = Signal(range(10))  # bits left to send after the current one
        shreg = Signal(8)  # data bits still to go, LSB next; ones shift in to form the stop bit

        bit_done = Signal()
        m.d.comb += [
            bit_done.eq(timer == 0),
            self.i_data.ready.eq(~busy | (bit_done & (bits == 0))),
        ]
        with m.If(busy):
            m.d.sync += timer.eq(timer - 1)
            with m.If(bit_done):
                with m.If(bits == 0):
                    m.d.sync += busy.eq(0)
                with m.Else():
                    m.d.sync += [
                        self.tx.eq(shreg[0]),
                        shreg.eq(Cat(shreg[1:], 1)),
                        bits.eq(bits - 1),
                        timer.eq(self.divisor - 1),
                    ]
        # Placed last so that a byte taken in a stop bit's last cycle overrides the above.
        with m.If(self.i_data.valid & self.i_data.ready):
            m.d.sync += [
                busy.eq(1),
                self.tx.eq(0),  # start bit
                shreg.eq(self.i_data.payload),
                bits.eq(9),
                timer.eq(self.divisor - 1),
            ]
        return m


class UARTReceiver(wiring.Component):
    """Puts each byte framed on `rx` on `o_data`; `error` and `overrun` pulse for one cycle.

    `rx` passes a 2-flop synchroniser (it comes from another clock). A falling edge on the idle
    line starts a frame; the start bit is checked again `divisor // 2` cycles later, so a low
    glitch shorter than half a bit is ignored, and each following bit is sampled `divisor` cycles
    after the last, in the middle of its bit time. The stop bit is sampled mid-bit too and the
    receiver is idle again right away, which leaves half a bit to absorb a faster sender.

    A low stop bit is a framing error: the byte is dropped and `error` pulses. A new frame starts
    only after the line has been seen high, so a held-low line (a break) gives one error.

    The receiver holds one byte on `o_data`. If it is still there, not taken, when the next byte
    completes, the new byte is dropped and `overrun` pulses; the held byte stays valid.
    """

    rx: In(1, init=1)
    o_data: Out(stream.Signature(8))
    error: Out(1)
    overrun: Out(1)

    def __init__(self, divisor: int):
        self.divisor = _check_divisor(divisor)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        rx = Signal(init=1)
        rx_prev = Signal(init=1)
        m.submodules.rx_sync = FFSynchronizer(self.rx, rx, init=1)
        m.d.sync += rx_prev.eq(rx)

        timer = Signal(range(self.divisor))  # cycles to the next sample, minus one
        bits = Signal(range(8))
        shreg = Signal(8)
        sample = Signal()
        m.d.comb += sample.eq(timer == 0)
        m.d.sync += timer.eq(timer - 1)

        out = self.o_data
        with m.If(out.ready):
            m.d.sync += out.valid.eq(0)
        m.d.sync += [self.error.eq(0), self.overrun.eq(0)]

        with m.FSM():
            with m.State("IDLE"):
                with m.If(rx_prev & ~rx):
                    m.d.sync += timer.eq(self.divisor // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                with m.If(sample):
                    with m.If(rx):
                        m.next = "IDLE"  # a glitch, not a start bit
                    with m.Else():
                        m.d.sync += [timer.eq(self.divisor - 1), bits.eq(0)]
                        m.next = "DATA"
            with m.State("DATA"):
                with m.If(sample):
                    m.d.sync += [shreg.eq(Cat(shreg[1:], rx)), timer.eq(self.divisor - 1)]
                    m.d.sync += bits.eq(bits + 1)
                    with m.If(bits == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                with m.If(sample):
                    with m.If(~rx):
                        m.d.sync += self.error.eq(1)
                    with m.Elif(out.valid & ~out.ready):
                        m.d.sync += self.overrun.eq(1)
                    with m.Else():
                        m.d.sync += [out.payload.eq(shreg), out.valid.eq(1)]
                    m.next = "IDLE"
        return m


class UART(wiring.Component):
    """`UARTTransmitter` and `UARTReceiver` with one `divisor`, as the host link's one block."""

    rx: In(1, init=1)
    tx: Out(1, init=1)
    i_data: In(stream.Signature(8))
    o_data: Out(stream.Signature(8))
    error: Out(1)
    overrun: Out(1)

    def __init__(self, divisor: int):
        self.divisor = _check_divisor(divisor)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.transmitter = transmitter = UARTTransmitter(self.divisor)
        m.submodules.receiver = receiver = UARTReceiver(self.divisor)
        connect(m, flipped(self.i_data), transmitter.i_data)
        connect(m, receiver.o_data, flipped(self.o_data))
        m.d.comb += [
            self.tx.eq(transmitter.tx),
            receiver.rx.eq(self.rx),
            self.error.eq(receiver.error),
            self.overrun.eq(receiver.overrun),
        ]
        return m
