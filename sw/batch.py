"""Run a backend over many samples in batches, so that an interrupted run keeps what finished.

A runner (`sw.compiler.evaluate.Runner`) takes a whole array of samples and returns when all
are done. Fed one batch at a time, Ctrl-C or a lost board costs at most the batch in flight:
`RunError.result` then holds every sample of the batches before it (and, from a board, the
samples of the broken batch that completed).
"""

import numpy as np
from spikeloom.sw.compiler.graph import Graph, check_graph_spikes
from spikeloom.sw.compiler.program import Program, check_spikes
from spikeloom.sw.errors import RunError
from spikeloom.sw.result import Result, concat_results
from tqdm import tqdm

__all__ = ["BATCH", "run_in_batches"]

#: Samples per call of each backend: Ctrl-C costs at most one batch, and a cycle-accurate
#: simulator's start-up (about 0.6 s for a cached Verilator build) is paid once per batch.
BATCH = {"golden": 1024, "amaranth": 8, "verilator": 64, "icarus": 16}


def _none_completed(program: Program | Graph, requested: int) -> Result:
    return Result(
        readout=np.zeros((0, program.outputs), np.int64),
        spikes={},
        cycles=np.zeros(0, np.int64),
        requested=requested,
    )


def run_in_batches(
    runner, program: Program | Graph, spikes, batch: int, progress: bool = False, desc: str = "run"
) -> Result:
    """`runner(program, spikes)` in batches of `batch` samples, with one progress bar over all.

    Raises `RunError` (`sw.errors`; `interrupted` on Ctrl-C) holding the samples that
    completed, and the number asked for as the result's `requested`."""
    check = check_graph_spikes if isinstance(program, Graph) else check_spikes
    spikes = check(program, spikes)
    total = len(spikes)
    starts = list(range(0, total, batch)) or [0]
    parts: list[Result] = []

    def completed(extra: Result | None = None) -> Result:
        done = [*parts, extra] if extra is not None and extra.samples else parts
        return concat_results(done, total) if done else _none_completed(program, total)

    bar = tqdm(total=total, desc=desc, unit="sample", disable=not progress or len(starts) < 2)
    try:
        for start in starts:
            parts.append(runner(program, spikes[start : start + batch]))
            bar.update(parts[-1].samples)
    except KeyboardInterrupt:
        raise RunError("interrupted", completed(), interrupted=True) from None
    except RunError as error:  # a board run that broke off inside the batch
        raise RunError(error.cause, completed(error.result), error.interrupted) from None
    finally:
        bar.close()
    return concat_results(parts) if len(parts) > 1 else parts[0]
