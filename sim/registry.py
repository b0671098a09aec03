"""The backends by name: one registry for the CLI, the benchmarks and the tests.

Every backend is a *runner*, `run(program, spikes) -> Result`. Each simulator is imported only
when its runner is asked for, so choosing the golden model never loads Amaranth or cocotb.
"""

from functools import partial

from spikeloom.sw.errors import InputError

__all__ = [
    "BACKENDS",
    "DEFAULT_LANES",
    "backend_runner",
    "simulated_board",
    "simulated_board_runner",
]

#: Backend names, as the command line spells them.
BACKENDS = ("golden", "amaranth", "verilator", "icarus")
#: Lanes of an engine sized for a Program when no board fixes them.
DEFAULT_LANES = 16


def backend_runner(
    name: str,
    lanes: int = DEFAULT_LANES,
    waves: str | None = None,
    stall: float = 0.0,
    progress: bool = True,
):
    """The runner of backend `name`: the golden model, or the engine alone (sized for each
    Program with `lanes`) in Amaranth's simulator or under cocotb with Verilator or Icarus.

    `waves` names a waveform file; `stall` is the probability of a valid/ready stall per cycle
    on each stream (hardware backends); `progress` shows progress on stderr (simulators)."""
    if name not in BACKENDS:
        raise InputError(f"backend {name!r} is not one of {', '.join(BACKENDS)}")
    if not isinstance(lanes, int) or lanes < 1:
        raise InputError(f"lanes must be an int >= 1, got {lanes!r}")
    if name == "golden":
        from spikeloom.sw.compiler.golden import run_golden

        return run_golden
    if name == "amaranth":
        from .amaranth_backend import run_amaranth

        return partial(run_amaranth, lanes=lanes, waves=waves, stall=stall, progress=progress)
    return partial(
        _run_cocotb, simulator=name, lanes=lanes, waves=waves, stall=stall, progress=progress
    )


def _run_cocotb(program, spikes, *, simulator, lanes, waves, stall, **options):
    import shutil

    from .cocotb_backend import run_cocotb

    result = run_cocotb(
        program, spikes, simulator=simulator, lanes=lanes, waves=bool(waves), stall=stall, **options
    )
    if waves:  # cocotb traces into its build folder; the user asked for this file
        shutil.copyfile(result.waves, waves)
        result.waves = waves
    return result


def simulated_board(program, board=None, lanes: int = DEFAULT_LANES, baud: int | None = None):
    """A link transport to the simulated board: the serial engine with its UART under Verilator,
    at `baud` (default 3 Mbaud). `board` (a `boards.spec.BoardSpec`) gives that board's engine
    and clock, and the Program must fit it; without one the engine is sized for `program`."""
    from spikeloom.hw.uart import divisor_for
    from spikeloom.sw.compiler.fit import check_fits, params_for_program

    from .verilator_transport import DEFAULT_BAUD, DEFAULT_CLOCK_HZ, VerilatorTransport

    baud = baud or DEFAULT_BAUD
    if board is None:
        params, clock_hz = params_for_program(program, lanes), DEFAULT_CLOCK_HZ
    else:
        params, clock_hz = board.params, int(board.pll(board.clock_mhz * 1e6).f_out_hz)
        ok, problems = check_fits(program, params)
        if not ok:
            raise InputError(f"the Program does not fit {board.name}: " + "; ".join(problems))
    try:
        divisor = divisor_for(clock_hz, baud)
    except ValueError as error:
        raise InputError(f"baud {baud}: {error}") from None
    return VerilatorTransport(params, clock_hz=clock_hz, divisor=divisor)


def simulated_board_runner(board=None, lanes: int = DEFAULT_LANES, progress: bool = True):
    """The runner of the simulated board (see `simulated_board`), at 3 Mbaud: the host's
    `Device` loads the Program over the link and streams the samples, as on a real board."""
    from spikeloom.sw.runtime.device import Device
    from spikeloom.sw.runtime.link import Link

    from .verilator_transport import DEFAULT_BAUD

    def run(program, spikes):
        with simulated_board(program, board, lanes, DEFAULT_BAUD) as transport:
            device = Device(Link(transport, clock=transport.clock), baud=DEFAULT_BAUD)
            device.load(program, verify=False)
            return device.run(program, spikes, progress=progress)

    return run
