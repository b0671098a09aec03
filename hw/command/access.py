"""WRITE and READ requests: their payload bytes in, the request and its range check out."""

from amaranth import Cat, Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .. import layout
from ..params import EngineParams
from ..protocol import ADDRESS_BYTES, word_bytes

__all__ = ["Access", "AccessRequest"]

#: A request as the payload carries it: space (u8), addr (u32), and for a WRITE the word.
Access = data.StructLayout({"space": 8, "addr": 32})


class AccessRequest(wiring.Component):
    """The bytes of a WRITE or READ payload in on `i_bytes` (always taken), little-endian,
    shifted into one register; out, the request they make:

    - `write`, `data`: a WRITE's space, addr and word (its `ADDRESS_BYTES + word_bytes` bytes);
    - `read`: a READ's space and addr (its `ADDRESS_BYTES` bytes, the last ones in);
    - `write_bad`/`write_limit` and `read_bad`/`read_limit`: whether the space (0..3) or the
      addr (below that space's depth in words) is out of range, and the limit a CAPACITY reply
      names: 4 spaces, or the space's depth. These are registered, so they are those of the
      bytes in one cycle before: the processor waits a cycle after the last byte for them.
    """

    def __init__(self, params: EngineParams):
        self.params = params
        self.word_bytes = word_bytes(params)
        super().__init__(
            {
                "i_bytes": In(stream.Signature(8, always_ready=True)),
                "write": Out(Access),
                "data": Out(8 * self.word_bytes),
                "read": Out(Access),
                "write_bad": Out(1),
                "write_limit": Out(32),
                "read_bad": Out(1),
                "read_limit": Out(32),
            }
        )

    def elaborate(self, platform):
        m = Module()
        p = self.params
        collect = Signal(8 * (ADDRESS_BYTES + self.word_bytes))
        with m.If(self.i_bytes.valid):
            m.d.sync += collect.eq(Cat(collect[8:], self.i_bytes.payload))
        m.d.comb += [
            self.write.eq(collect[: 8 * ADDRESS_BYTES]),
            self.data.eq(collect[8 * ADDRESS_BYTES :]),
            # READ's bytes land in the top of `collect`.
            self.read.eq(collect[-8 * ADDRESS_BYTES :]),
        ]

        # Spaces are numbered 0..3 (`hw.layout`), so 4 and above are unknown.
        depths = {
            layout.SPACE_WEIGHTS: p.weight_words,
            layout.SPACE_NEURONS: p.neuron_words,
            layout.SPACE_LAYERS: p.max_layers,
            layout.SPACE_GLOBAL: 1,
        }
        for request, bad, limit_r in (
            (self.write, self.write_bad, self.write_limit),
            (self.read, self.read_bad, self.read_limit),
        ):
            limit = Signal(32)
            with m.Switch(request.space):
                for space, depth in depths.items():
                    with m.Case(space):
                        m.d.comb += limit.eq(depth)
                with m.Default():
                    m.d.comb += limit.eq(len(depths))
            # Registered: a 32-bit comparison is not then in front of the reply's registers.
            m.d.sync += [
                bad.eq((request.space >= len(depths)) | (request.addr >= limit)),
                limit_r.eq(limit),
            ]
        return m
