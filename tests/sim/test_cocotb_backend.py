"""The engine's generated Verilog under cocotb (Verilator and Icarus) equals the golden model.

Every Program here runs on one engine build per simulator (`ENVELOPE` at `LANES` holds them
all), so the suite compiles Verilator once; later runs reuse the cached build. SPIKELOOM_SEED and
SPIKELOOM_PROGRAMS set the random sweep; each Program's seed is printed for replay.
"""

import io
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from spikeloom.sim.amaranth_backend import run_amaranth
from spikeloom.sim.cocotb_backend import (
    SIMULATORS,
    CocotbSimulationError,
    engine_build,
    run_cocotb,
    simulator_missing,
)
from spikeloom.sw.compiler.fit import params_for_program
from spikeloom.sw.compiler.random_program import edge_programs, random_program, random_spikes

from tests.golden_check import assert_matches_golden

SEED = int(os.environ.get("SPIKELOOM_SEED", "7"))
PROGRAMS = int(os.environ.get("SPIKELOOM_PROGRAMS", "12"))
RANDOM = dict(max_layers=3, max_width=12, max_timesteps=4)
LANES = 4
#: One build for every Program below: the random envelope and the edge cases (37 neurons,
#: 16-bit membranes, T = 5).
ENVELOPE = dict(
    max_layers=3,
    max_inputs=40,
    max_neurons=40,
    max_v_bits=16,
    max_weight_bits=8,
    max_timesteps=5,
    current_bits=16,  # 12 inputs x 7 spikes x 128 < 2^15
    weight_words=3 * 40 * 10,
)


def shared_params(program):
    return params_for_program(program, LANES, **ENVELOPE)


@pytest.fixture(params=SIMULATORS)
def simulator(request):
    missing = simulator_missing(request.param)
    if missing:
        pytest.skip(missing)
    return request.param


def assert_same(program, spikes, result, what):
    assert_matches_golden(program, spikes, result, what)
    assert result.cycles.shape == (len(spikes),) and (result.cycles > 0).all()
    assert result.lanes == LANES


def test_random_programs_with_stalls(simulator):
    print(f"SPIKELOOM_SEED={SEED} SPIKELOOM_PROGRAMS={PROGRAMS}")
    for index in range(PROGRAMS):
        seed = SEED * 1000 + index
        rng = np.random.default_rng(seed)
        program = random_program(rng, **RANDOM)
        spikes = random_spikes(rng, program, 4)
        what = f"{simulator}, program {index}: replay with np.random.default_rng({seed})"
        print(what)
        result = run_cocotb(
            program, spikes, simulator, stall=0.3, seed=seed, params=shared_params(program)
        )
        assert_same(program, spikes, result, what)


@pytest.mark.parametrize("stall", [0.0, 0.3])
@pytest.mark.parametrize("name", sorted(edge_programs()))
def test_edge_cases(simulator, name, stall):
    program, spikes = edge_programs()[name]
    result = run_cocotb(
        program, spikes, simulator, stall=stall, seed=11, params=shared_params(program)
    )
    assert_same(program, spikes, result, f"{simulator}, {name}, stall {stall}")


def test_cycles_and_counters_match_amaranth(simulator):
    """Cycle for cycle the same engine: counters equal the Amaranth simulator's, no stalls."""
    rng = np.random.default_rng(SEED)
    program = random_program(rng, **RANDOM)
    spikes = random_spikes(rng, program, 3)
    params = shared_params(program)
    result = run_cocotb(program, spikes, simulator, params=params)
    reference = run_amaranth(program, spikes, params=params)
    np.testing.assert_array_equal(result.cycles, reference.cycles)
    assert result.counters.keys() == reference.counters.keys()
    for name, counts in reference.counters.items():
        np.testing.assert_array_equal(result.counters[name], counts, err_msg=name)


def test_a_stuck_engine_fails_with_a_message(simulator):
    """The watchdog ends a run whose engine stops answering; nothing hangs."""
    program, spikes = edge_programs()["t1_wide_layer_not_multiple_of_lanes"]
    with pytest.raises(CocotbSimulationError, match=r"after 0 of 3 samples.*stayed low") as error:
        run_cocotb(program, spikes, simulator, params=shared_params(program), idle_cycles=2)
    assert error.value.completed == 0
    shutil.rmtree(error.value.log_path.parent)  # a failed run keeps its job folder and log


def test_waves_icarus():
    """`waves=True` writes a waveform file in its build folder (Icarus: a fast build)."""
    if simulator_missing("icarus"):
        pytest.skip(simulator_missing("icarus"))
    program, spikes = edge_programs()["one_neuron_layers"]
    result = run_cocotb(program, spikes, "icarus", waves=True, params=shared_params(program))
    assert result.waves.is_file() and result.waves.stat().st_size > 0
    assert_same(program, spikes, result, "icarus with waves")


class Terminal(io.StringIO):
    def isatty(self):
        return True


def icarus_or_skip():
    if simulator_missing("icarus"):
        pytest.skip(simulator_missing("icarus"))


def test_progress_counts_the_samples(monkeypatch, tmp_path):
    """The bar follows the testbench's line per SAMPLE_END; the job folder is removed."""
    icarus_or_skip()
    program, spikes = edge_programs()["one_neuron_layers"]
    params = shared_params(program)
    engine_build("icarus", params, progress=False)  # the build's own line is tested elsewhere
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    monkeypatch.setattr("sys.stderr", screen := Terminal())
    run_cocotb(program, spikes, "icarus", params=params)
    assert "icarus sim: 100%" in screen.getvalue()
    assert f"{len(spikes)}/{len(spikes)}" in screen.getvalue()
    assert list(tmp_path.iterdir()) == []


def processes_in(folder) -> list[int]:
    """Processes whose working directory is in `folder` (deleted folders included)."""
    found = []
    for cwd in Path("/proc").glob("[0-9]*/cwd"):
        try:
            if os.readlink(cwd).startswith(str(folder)):
                found.append(int(cwd.parent.name))
        except OSError:
            continue
    return found


def test_an_interrupted_run_leaves_nothing(monkeypatch, tmp_path):
    """Ctrl-C while the simulator runs: no simulator process is left, nor the job folder."""
    icarus_or_skip()
    rng = np.random.default_rng(SEED)
    program = random_program(rng, **RANDOM)
    spikes = random_spikes(rng, program, 400)
    params = shared_params(program)
    engine_build("icarus", params, progress=False)
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    running = []

    def interrupt_mid_run():
        # Once the testbench has finished a sample: the simulator runs, with samples to go.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if any(path.stat().st_size for path in tmp_path.glob("*/progress")):
                break
            time.sleep(0.02)
        running.extend(processes_in(tmp_path))
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    watcher = threading.Thread(target=interrupt_mid_run)
    watcher.start()
    with pytest.raises(KeyboardInterrupt):
        run_cocotb(program, spikes, "icarus", params=params, progress=False)
    watcher.join()
    assert running, "the simulator was not running when interrupted"
    assert processes_in(tmp_path) == []
    assert list(tmp_path.iterdir()) == []
