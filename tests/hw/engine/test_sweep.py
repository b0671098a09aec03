"""The sweep alone: groups of currents through the LIF units against the unit's Python reference
(tests/hw/test_lif.py), membranes carried from one timestep to the next in the membrane memory (and
not from one sample to the next),
spike counts handed on per slot, with the emitter busy at random (which holds back a group's
first slot).

SPIKELOOM_SEED replays a failure: every test prints the seed its random numbers come from.
"""

import pytest
from amaranth import Module
from amaranth.lib.memory import Memory
from spikeloom.hw.engine import Sweep
from spikeloom.hw.params import EngineParams, v_range

from tests.hw.test_lif import reference
from tests.sim_helpers import run_sim

from .bench import SEED, idle, seeded, wait_for

TIMESTEPS = 3
#: The second sample starts from zero membranes, whatever the memory holds.
SAMPLES = 2


def random_layer(rng, params, index):
    spiking = index == 0 or rng.random() < 0.5
    v_bits = rng.randrange(8, params.max_v_bits + 1)
    return dict(
        n_out=rng.randrange(1, params.max_neurons + 1),
        base=index * params.groups(params.max_neurons) * params.slots,
        spiking=spiking,
        burst_max=rng.randrange(1, params.max_burst + 1) if spiking else 1,
        leak_shift=None if rng.random() < 0.3 else rng.randrange(0, 6),
        reset=rng.choice(["zero", "subtract"]),
        v_bits=v_bits,
    )


@pytest.mark.parametrize("lanes, sweep", [(4, 2), (4, 4), (3, 1)])
def test_groups_update_their_membranes(lanes, sweep):
    rng = seeded("sweep", lanes, sweep)
    params = EngineParams(
        lanes=lanes, sweep_lanes=sweep, max_layers=2, max_inputs=8, max_neurons=7,
        max_v_bits=12, current_bits=10, weight_words=64,
    )  # fmt: skip
    units, slots, vmax = params.units, params.slots, params.max_v_bits
    groups = params.groups(params.max_neurons)
    layers = [random_layer(rng, params, index) for index in range(params.max_layers)]
    # Thresholds and biases of every neuron slot (also beyond a layer's last neuron).
    neurons = {}
    for layer in layers:
        low, high = v_range(layer["v_bits"])
        for n in range(groups * lanes):
            neurons[layer["base"], n] = (rng.randint(1, min(high, 40)), rng.randint(-20, 20))
    image = [0] * params.neuron_words
    for (base, n), (theta, bias) in neurons.items():
        unit = n % units
        word = theta | (bias & ((1 << vmax) - 1)) << vmax
        image[base + n // units] |= word << (unit * 2 * vmax)

    dut = Sweep(params)
    m = Module()
    m.submodules.dut = dut
    m.submodules.neurons = memory = Memory(shape=len(dut.neurons.data), depth=len(image),
                                           init=image)  # fmt: skip
    read = memory.read_port()
    m.d.comb += [read.addr.eq(dut.neurons.addr), dut.neurons.data.eq(read.data)]

    membranes = [[0] * (groups * lanes) for _ in layers]
    expected, landed = [], []

    async def sequencer(ctx):
        what = f"SPIKELOOM_SEED={SEED}, lanes {lanes}, sweep_lanes {sweep}"
        for t in range(SAMPLES * TIMESTEPS):
            ctx.set(dut.first_step, t % TIMESTEPS == 0)
            for index, layer in enumerate(layers):
                cfg = dut.layer
                for field in ("spiking", "burst_max", "v_bits"):
                    ctx.set(getattr(cfg, field), layer[field])
                ctx.set(cfg.leak, layer["leak_shift"] is not None)
                ctx.set(cfg.leak_shift, layer["leak_shift"] or 0)
                ctx.set(cfg.subtract, layer["reset"] == "subtract")
                ctx.set(dut.start_layer, 1)
                await ctx.tick()
                ctx.set(dut.start_layer, 0)
                word = layer["base"]
                ctx.set(dut.word, word)
                ctx.set(dut.word_next, word + 1)
                for group in range(params.groups(layer["n_out"])):
                    currents = [rng.randint(-200, 200) for _ in range(lanes)]
                    for k, current in enumerate(currents):
                        ctx.set(dut.currents[k], current)
                        n = group * lanes + k
                        theta, bias = neurons[layer["base"], n]
                        v, count = reference(
                            0 if t % TIMESTEPS == 0 else membranes[index][n], current, theta, bias,
                            layer["v_bits"], layer["leak_shift"], layer["reset"],
                            layer["spiking"], layer["burst_max"],
                        )  # fmt: skip
                        membranes[index][n] = v
                        exists = n < layer["n_out"]
                        expected.append((t, index, group, k // units, k % units, count * exists))
                    ctx.set(dut.remaining, layer["n_out"] - group * lanes)
                    await idle(ctx, rng.randrange(1, 4))  # the group accumulates
                    ctx.set(dut.run, 1)
                    steps = 0
                    for _ in range(1000):
                        *_, step = await ctx.tick().sample(dut.step)
                        if step:  # the sequencer's word registers move on
                            steps, word = steps + 1, word + 1
                            ctx.set(dut.word, word)
                            ctx.set(dut.word_next, word + 1)
                        if steps == slots:
                            break
                    assert steps == slots, f"{what}: the sweep stopped"
                    ctx.set(dut.run, 0)
                await wait_for(ctx, dut.drained, what)
        assert landed == expected, what
        # The membranes left in memory, read as the readout does.
        for index, layer in enumerate(layers):
            for word in range(params.groups(layer["n_out"]) * slots):
                ctx.set(dut.word, layer["base"] + word)
                await ctx.tick()
                value = ctx.get(dut.membranes)
                for unit in range(units):
                    n = word * units + unit
                    if n < layer["n_out"]:
                        v = value >> (unit * vmax) & ((1 << vmax) - 1)
                        v -= (v >> (vmax - 1)) << vmax
                        assert v == membranes[index][n], f"{what}: layer {index} neuron {n}"

    async def units_out(ctx):
        slot_labels = iter(expected_slots())
        entered = landed_slots = emitted = 0
        while True:
            *_, step, entering, emitting, valid, slot, counts = await ctx.tick().sample(
                dut.step,
                dut.slot,
                dut.emitting,
                dut.o_slots.valid,
                dut.o_slots.payload.slot,
                dut.o_slots.payload.counts,
            )
            if step and entering == 0:
                # A group's first slot waits until the emitter is done and nothing is in the
                # units: its lanes' counts would overwrite spikes not yet sent.
                what = f"SPIKELOOM_SEED={SEED}: slot {entered} entered"
                assert landed_slots == entered and not emitted, what
            entered += step
            emitted = emitting
            if valid:
                t, index, group = next(slot_labels)
                landed_slots += 1
                for unit in range(units):
                    landed.append((t, index, group, slot, unit, counts[unit]))

    def expected_slots():
        for t in range(SAMPLES * TIMESTEPS):
            for index, layer in enumerate(layers):
                for group in range(params.groups(layer["n_out"])):
                    for _ in range(slots):
                        yield t, index, group

    async def emitter(ctx):
        while True:
            ctx.set(dut.emitting, int(rng.random() < 0.3))
            await ctx.tick()

    run_sim(m, sequencer, background=[units_out, emitter])
