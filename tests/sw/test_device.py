"""The host runtime against the simulated board: load, verify, run, and fail without loss."""

import random

import numpy as np
import pytest
from spikeloom.hw.serial_engine import SerialEngine
from spikeloom.sim.amaranth_transport import AmaranthTransport
from spikeloom.sw.compiler.golden import run_golden
from spikeloom.sw.compiler.random_program import random_program, random_spikes
from spikeloom.sw.errors import ProgramError
from spikeloom.sw.runtime.device import Device, RunError
from spikeloom.sw.runtime.link import Link

from tests.hw.test_command import PARAMS


def device(fifo_depth: int = 16, stall: float = 0.2, seed: int = 0):
    board = SerialEngine(PARAMS, 1_000_000, 4, uart=False, fifo_depth=fifo_depth, idle_timeout=2000)
    transport = AmaranthTransport(board, random.Random(seed), stall=stall)
    return Device(Link(transport, clock=transport.clock), timeout_s=0.01), transport


def small_program(seed: int):
    rng = np.random.default_rng(seed)
    while True:
        program = random_program(rng, max_layers=2, max_width=12, max_timesteps=3, max_v_bits=12)
        if max(layer.v_bits for layer in program.layers) <= PARAMS.max_v_bits:
            return program, random_spikes(rng, program, 3)


@pytest.mark.parametrize("seed", [1, 2])
def test_device_runs_programs_like_the_golden_model(seed):
    print(f"seed {seed}")
    program, spikes = small_program(seed)
    dev, _ = device(fifo_depth=8, seed=seed)
    assert dev.info().params == PARAMS and dev.info().clock_hz == 1_000_000
    dev.load(program)
    result = dev.run(program, spikes)
    golden = run_golden(program, spikes)
    np.testing.assert_array_equal(result.readout, golden.readout)
    for name, counts in golden.spikes.items():
        np.testing.assert_array_equal(result.spikes[name], counts)
    np.testing.assert_array_equal(result.counters["layer_events"][:, 0], spikes.sum(axis=(1, 2)))
    assert (result.cycles > 0).all() and result.lanes == PARAMS.lanes


def test_a_program_too_large_for_the_board_is_refused_before_loading():
    rng = np.random.default_rng(0)
    program = random_program(rng, max_layers=1, max_width=24)
    while program.layers[0].outputs <= PARAMS.max_neurons:
        program = random_program(rng, max_layers=1, max_width=24)
    dev, _ = device()
    with pytest.raises(ProgramError, match="does not fit the engine"):
        dev.load(program)


def test_a_board_that_stops_answering_keeps_completed_samples():
    program, spikes = small_program(3)
    dev, transport = device(stall=0.0)
    dev.load(program)
    first = dev.run(program, spikes[:1])
    transport.read = lambda max_bytes, timeout_s: b""  # the cable is pulled
    with pytest.raises(RunError, match="0 of 2 samples completed") as error:
        dev.run(program, spikes[1:])
    assert len(error.value.result.readout) == 0
    assert len(first.readout) == 1


def test_readout_only_returns_the_last_layer_with_less_traffic():
    program, spikes = small_program(7)
    while len(program.layers) < 2 or not program.layers[0].spiking:
        program, spikes = small_program(int(spikes.sum()) + 100)
    traffic = {}
    for readout_only in (False, True):
        dev, _ = device(stall=0.0)
        dev.load(program, verify=False, readout_only=readout_only)
        before = dev.link.bytes_received
        result = dev.run(program, spikes)
        traffic[readout_only] = dev.link.bytes_received - before
        golden = run_golden(program, spikes)
        np.testing.assert_array_equal(result.readout, golden.readout)
        reported = [layer.name for layer in program.layers if layer.spiking]
        if readout_only:
            reported = [name for name in reported if name == program.layers[-1].name]
        assert sorted(result.spikes) == sorted(reported)
        for name in result.spikes:
            np.testing.assert_array_equal(result.spikes[name], golden.spikes[name])
    assert golden.spikes[program.layers[0].name].any()  # else the comparison would say nothing
    assert traffic[True] < traffic[False]
