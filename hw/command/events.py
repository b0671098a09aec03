"""The EVENTS unpacker: an EVENTS payload in, the engine's input events out."""

from amaranth import Cat, Const, Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .. import layout
from ..interface import struct
from ..params import EngineParams
from ..protocol import EventsFormat

__all__ = ["PayloadByte", "EventsUnpacker"]

#: A frame's payload byte, and whether it is the frame's last beat.
PayloadByte = data.StructLayout({"data": 8, "last": 1})


class EventsUnpacker(wiring.Component):
    """One EVENTS payload in on `i_payload` (`length` bytes, the format byte first), one timestep
    of input events (`hw.layout.input_fields`) out on `o_events`, the end marker last.

    `start` begins a payload; the processor gives it only once the engine can take a timestep
    (`o_events.ready`, which then stays high until the end marker). Addresses go out as the
    payload arrives: there is no second copy of the timestep to check first. So:

    - `bad_length` (an address list ending in half an address; `expected` is the longest
      acceptable length up to the one sent) and `unknown` (an unknown format) are decided from
      the format byte, before any address goes out, in the cycle it is taken. Nothing more is
      taken: the processor drains the rest of the frame.
    - an address >= max_inputs, or an address list holding more than max_inputs entries
      (repeats), is dropped while the others go through, and the end marker follows as always,
      so that the engine's timestep stays well formed. `done` is high in the cycle the end
      marker is taken, with `dropped` set when an address was dropped (the reply is CAPACITY).

    A bitmap's bytes go out one set bit a cycle, lowest first; bits beyond max_inputs are
    dropped as out-of-range addresses are.
    """

    def __init__(self, params: EngineParams):
        self.params = params
        super().__init__(
            {
                "start": In(1),
                "length": In(16),
                "i_payload": In(stream.Signature(PayloadByte)),
                "o_events": Out(stream.Signature(struct(layout.input_fields(params)))),
                "bad_length": Out(1),
                "expected": Out(16),
                "unknown": Out(1),
                "done": Out(1),
                "dropped": Out(1),
            }
        )

    def elaborate(self, platform):
        m = Module()
        p = self.params
        inputs, events = self.i_payload, self.o_events
        beat, ev = inputs.payload, events.payload

        ev_bad = Signal()  # an address was dropped: reply CAPACITY
        ev_count = Signal(range(p.max_inputs + 1))
        ev_low = Signal(8)
        ev_bits = Signal(8)  # bitmap byte: bits still to send
        ev_base = Signal(16)  # input number of bit 0 of `ev_bits`
        ev_last = Signal()  # `ev_bits` came from the frame's last beat
        m.d.comb += self.dropped.eq(ev_bad)

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [ev_bad.eq(0), ev_count.eq(0), ev_base.eq(0)]
                    m.next = "FORMAT"

            with m.State("FORMAT"):
                m.d.comb += inputs.ready.eq(1)
                with m.If(inputs.valid):
                    addresses = self.length - 1
                    with m.Switch(beat.data):
                        with m.Case(EventsFormat.ADDRESSES):
                            with m.If(addresses[0]):
                                m.d.comb += [
                                    self.bad_length.eq(1),
                                    self.expected.eq(addresses[:16]),
                                ]
                                m.next = "IDLE"
                            with m.Elif(beat.last):
                                m.next = "END"
                            with m.Else():
                                m.next = "LOW"
                        with m.Case(EventsFormat.BITMAP):
                            with m.If(beat.last):
                                m.next = "END"
                            with m.Else():
                                m.next = "BYTE"
                        with m.Default():
                            m.d.comb += self.unknown.eq(1)
                            m.next = "IDLE"

            with m.State("LOW"):
                m.d.comb += inputs.ready.eq(1)
                with m.If(inputs.valid):
                    m.d.sync += ev_low.eq(beat.data)
                    m.next = "HIGH"

            with m.State("HIGH"):
                addr = Cat(ev_low, beat.data)
                ok = (addr < p.max_inputs) & (ev_count < p.max_inputs)
                m.d.comb += [ev.addr.eq(addr), ev.end.eq(0)]
                with m.If(ok):
                    m.d.comb += [events.valid.eq(inputs.valid), inputs.ready.eq(events.ready)]
                with m.Else():
                    m.d.comb += inputs.ready.eq(1)
                with m.If(inputs.valid & inputs.ready):
                    with m.If(ok):
                        m.d.sync += ev_count.eq(ev_count + 1)
                    with m.Else():
                        m.d.sync += ev_bad.eq(1)
                    with m.If(beat.last):
                        m.next = "END"
                    with m.Else():
                        m.next = "LOW"

            with m.State("BYTE"):
                m.d.comb += inputs.ready.eq(1)
                with m.If(inputs.valid):
                    m.d.sync += [ev_bits.eq(beat.data), ev_last.eq(beat.last)]
                    m.next = "BITS"

            with m.State("BITS"):
                # One cycle per set bit, lowest first.
                lowest = Signal(range(8))
                for bit in reversed(range(8)):
                    with m.If(ev_bits[bit]):
                        m.d.comb += lowest.eq(bit)
                addr = Signal(17)
                m.d.comb += [addr.eq(ev_base + lowest), ev.addr.eq(addr), ev.end.eq(0)]
                ok = addr < p.max_inputs
                with m.If(ev_bits == 0):
                    m.d.sync += ev_base.eq(ev_base + 8)
                    with m.If(ev_last):
                        m.next = "END"
                    with m.Else():
                        m.next = "BYTE"
                with m.Elif(ok):
                    m.d.comb += events.valid.eq(1)
                    with m.If(events.ready):
                        m.d.sync += ev_bits.eq(ev_bits & ~(Const(1, 8) << lowest))
                with m.Else():
                    m.d.sync += [ev_bits.eq(ev_bits & ~(Const(1, 8) << lowest)), ev_bad.eq(1)]

            with m.State("END"):
                # Always sent, so that the engine's timestep ends even after a dropped address.
                m.d.comb += [events.valid.eq(1), ev.end.eq(1)]
                with m.If(events.ready):
                    m.d.comb += self.done.eq(1)
                    m.next = "IDLE"
        return m
