"""Bit-exactness sweep: many random Programs on a hardware backend against the golden model.

Every Program draws its neuron kinds, weight widths, leaks, resets, membrane widths (narrow, so
saturation happens), bursts, layer widths and T at random; inputs arrive with random valid/ready
stalls. All Programs share one engine build (sized to hold the largest), so a cocotb simulator
compiles once. Prints the seed of every mismatch so it can be replayed, and writes JSON.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
from spikeloom.sim.registry import backend_runner
from spikeloom.sw.compiler.fit import params_for_program
from spikeloom.sw.compiler.golden import run_golden
from spikeloom.sw.compiler.random_program import random_program, random_spikes
from tqdm import tqdm

RESULTS = Path(__file__).resolve().parent / "results" / "sweep.json"
#: The envelope every random Program fits (see `random_program`'s arguments below).
SIZES = dict(max_layers=3, max_width=24, max_timesteps=6, max_v_bits=12)


def envelope(lanes: int):
    """An engine build that holds any Program `random_program(**SIZES)` can draw."""
    width = SIZES["max_width"]
    return dict(
        max_layers=SIZES["max_layers"],
        max_inputs=width,
        max_neurons=width,
        max_v_bits=SIZES["max_v_bits"],
        max_weight_bits=8,
        max_timesteps=SIZES["max_timesteps"],
        current_bits=16,  # 24 inputs x 7 spikes x 128 < 2^15
        weight_words=SIZES["max_layers"] * width * -(-width // lanes),
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="verilator")
    parser.add_argument("--programs", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=3, help="samples per Program")
    parser.add_argument("--lanes", type=int, default=4)
    parser.add_argument("--stall", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    print(
        f"seed {args.seed}: {args.programs} Programs on {args.backend}, lanes {args.lanes}, "
        f"stall {args.stall}"
    )
    mismatches, kinds = [], {"lif": 0, "lifb": 0, "readout": 0}
    start = time.perf_counter()
    for index in tqdm(range(args.programs), desc="sweep", unit="program"):
        seed = args.seed * 1_000_003 + index
        rng = np.random.default_rng(seed)
        program = random_program(rng, **SIZES)
        spikes = random_spikes(rng, program, args.samples)
        for layer in program.layers:
            kinds[layer.neuron] += 1
        params = params_for_program(program, args.lanes, **envelope(args.lanes))
        runner = backend_runner(args.backend, args.lanes, stall=args.stall, progress=False)
        result = runner(program, spikes, seed=seed, params=params)
        if not run_golden(program, spikes).same_outputs(result):
            mismatches.append(seed)
            tqdm.write(f"MISMATCH: replay with np.random.default_rng({seed})")
    seconds = time.perf_counter() - start
    print(
        f"{args.programs} Programs, {len(mismatches)} mismatches, {seconds:.0f} s; "
        f"layers by kind: {kinds}"
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(
        json.dumps(
            {
                "backend": args.backend,
                "programs": args.programs,
                "samples": args.samples,
                "lanes": args.lanes,
                "stall": args.stall,
                "seed": args.seed,
                "mismatches": mismatches,
                "layer_kinds": kinds,
                "seconds": seconds,
            },
            indent=2,
        )
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
