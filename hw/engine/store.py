"""The configuration store: weights, thresholds and biases, the layer table, the settings.

Everything a Program loads lives here, behind the host's configuration writes and read-backs.
Both are served only while the engine is between timesteps (`idle`): then neither the
accumulate nor the sweep is using a memory, so a read-back borrows their read ports (a
single-port RAM, such as the iCE40's SPRAM, needs no second port) and a weight write the one
address the weight memory has.
"""

from amaranth import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .. import layout
from ..interface import struct
from ..params import EngineParams
from ..ram import ram
from ..weights import WeightMemory
from .ports import ReadPortSignature, neuron_addr_bits

__all__ = ["ConfigStore"]


def _init(words, depth: int) -> list[int]:
    image = [0] * depth
    for addr, word in words:
        image[addr] = word
    return image


class ConfigStore(wiring.Component):
    """The Program's memories and settings, with the host's ports onto them.

    - `i_config`: writes (`hw.layout.write_fields`), taken while `idle` and not reading back;
    - `i_read` / `o_read`: read-back requests (`hw.layout.read_fields`) and the words read,
      taken while `idle`;
    - `idle`: the engine is between timesteps (from the sequencer);
    - `reading`: a read-back owns the read ports;
    - `settings`: the global settings (`hw.layout.global_fields`);
    - `layer` / `layer_config`: the layer table, read combinationally at `layer`;
    - `weights`: the accumulate's weight reads; `neurons`: the sweep's threshold/bias reads.
    """

    def __init__(
        self, params: EngineParams, images: dict | None = None, weight_memory=WeightMemory
    ):
        """`images` (from `hw.layout.memory_images`) bakes a Program in; `weight_memory`
        makes the weight store (`hw.weights.WeightStoreSignature`)."""
        self.params = params
        self.images = images or {}
        self.weight_memory = weight_memory
        p = params
        super().__init__(
            {
                "i_config": In(stream.Signature(struct(layout.write_fields(p)))),
                "i_read": In(stream.Signature(struct(layout.read_fields(p)))),
                "o_read": Out(stream.Signature(layout.word_bits(p))),
                "idle": In(1),
                "reading": Out(1),
                "settings": Out(struct(layout.global_fields(p))),
                "layer": In(range(p.max_layers + 1)),
                "layer_config": Out(struct(layout.layer_fields(p))),
                "weights": In(ReadPortSignature(range(p.weight_words), layout.weight_word_bits(p))),
                "neurons": In(ReadPortSignature(neuron_addr_bits(p), layout.neuron_word_bits(p))),
            }
        )

    def elaborate(self, platform):
        m = Module()
        p = self.params
        global_layout = struct(layout.global_fields(p))

        def image(space, depth):
            return _init(self.images.get(space, []), depth)

        m.submodules.weights = weights = self.weight_memory(
            layout.weight_word_bits(p), p.weight_words, image(layout.SPACE_WEIGHTS, p.weight_words)
        )
        # No read races a write to the same word: writes happen only between timesteps, when
        # nothing reads.
        m.submodules.neurons = neurons = ram(
            shape=layout.neuron_word_bits(p),
            depth=p.neuron_words,
            init=image(layout.SPACE_NEURONS, p.neuron_words),
        )
        # Read combinationally, so flip-flops rather than a block RAM: a plain Memory.
        m.submodules.layer_table = layer_table = Memory(
            shape=struct(layout.layer_fields(p)).size,
            depth=p.max_layers,
            init=image(layout.SPACE_LAYERS, p.max_layers),
        )
        neuron_rd, neuron_wr = neurons.read_port(), neurons.write_port()
        layer_rd, layer_wr = layer_table.read_port(domain="comb"), layer_table.write_port()

        # --- configuration writes: taken between timesteps ------------------------------------
        global_init = image(layout.SPACE_GLOBAL, 1)[0]
        # Settings are configuration, like the memories: a reset of the engine keeps them.
        settings = Signal(
            global_layout,
            init=global_layout.const(layout.unpack(layout.global_fields(p), global_init)),
            reset_less=True,
        )
        m.d.comb += self.settings.eq(settings)
        cfg = self.i_config
        reading = self.reading
        # Writes wait for the engine to be between timesteps, as read-backs do: then neither the
        # sweep nor the accumulate is using a memory, so the weight memory can take the write on
        # the address its read port uses (one port: what an iCE40 SPRAM has).
        m.d.comb += cfg.ready.eq(self.idle & ~reading)
        for port in (neuron_wr, layer_wr):
            m.d.comb += [port.addr.eq(cfg.payload.addr), port.data.eq(cfg.payload.data)]
        with m.If(cfg.valid):
            with m.Switch(cfg.payload.space):
                with m.Case(layout.SPACE_WEIGHTS):
                    m.d.comb += weights.w_en.eq(cfg.ready)
                with m.Case(layout.SPACE_NEURONS):
                    m.d.comb += neuron_wr.en.eq(cfg.ready)
                with m.Case(layout.SPACE_LAYERS):
                    m.d.comb += layer_wr.en.eq(cfg.ready)
                with m.Case(layout.SPACE_GLOBAL):
                    with m.If(cfg.ready):
                        m.d.sync += settings.eq(cfg.payload.data[: global_layout.size])

        # --- read-back: between samples the read ports serve the host -------------------------
        read_req = Signal(struct(layout.read_fields(p)))
        # 1: addresses out; 2: the synchronous ports' data is here, latch it; 3: on o_read.
        read_data = Signal(2)
        m.d.comb += self.i_read.ready.eq(self.idle & ~reading)
        with m.If(self.i_read.valid & self.i_read.ready):
            m.d.sync += [read_req.eq(self.i_read.payload), reading.eq(1), read_data.eq(1)]
        with m.If(read_data == 1):
            m.d.sync += read_data.eq(2)
        with m.If(read_data == 2):
            m.d.sync += read_data.eq(3)
            with m.Switch(read_req.space):
                with m.Case(layout.SPACE_WEIGHTS):
                    m.d.sync += self.o_read.payload.eq(weights.r_data)
                with m.Case(layout.SPACE_NEURONS):
                    m.d.sync += self.o_read.payload.eq(neuron_rd.data)
                with m.Case(layout.SPACE_LAYERS):
                    m.d.sync += self.o_read.payload.eq(layer_rd.data)
                with m.Case(layout.SPACE_GLOBAL):
                    m.d.sync += self.o_read.payload.eq(settings.as_value())
        m.d.comb += self.o_read.valid.eq(read_data == 3)
        with m.If(self.o_read.valid & self.o_read.ready):
            m.d.sync += [reading.eq(0), read_data.eq(0)]

        # --- the read ports: the engine's, or a read-back's -----------------------------------
        m.d.comb += [
            layer_rd.addr.eq(Mux(reading, read_req.addr, self.layer)),
            self.layer_config.eq(layer_rd.data),
            neuron_rd.addr.eq(Mux(reading, read_req.addr, self.neurons.addr)),
            self.neurons.data.eq(neuron_rd.data),
        ]
        weight_addr = Signal.like(weights.addr)
        with m.If(cfg.valid & cfg.ready):
            m.d.comb += weight_addr.eq(cfg.payload.addr)
        with m.Elif(reading):
            m.d.comb += weight_addr.eq(read_req.addr)
        with m.Else():
            m.d.comb += weight_addr.eq(self.weights.addr)
        m.d.comb += [
            weights.addr.eq(weight_addr),
            weights.w_data.eq(cfg.payload.data),
            self.weights.data.eq(weights.r_data),
        ]
        return m
