"""Accuracy of the Mixer-SNN on digits: the float model and its compiled graph on the golden model.

Trains a `SpikingMixer` (a preset from `MIXER_PRESETS`, "digits" by default, with any option
below overriding it; binary weights, Adam lr 1e-2 with a cosine schedule, batch 64, label
smoothing 0.1: the measured best, docs/models.md), compiles it with
`compile_mixer` at several gain shifts (the float model does not depend on the shift; it sets
how finely the integer thresholds and biases are rounded), and evaluates the float model and
each graph on the 360 test images with `run_graph_golden`, with the fraction of images whose
integer class is the float model's. One run per seed; prints a table per run and writes every
run to the JSON file (`--out`, default bench/results/mixer.json).

Example, the per-projection gain experiment on three seeds:
`python -m bench.mixer --projection-gains --seeds 0,1,2 --out /tmp/gains.json`
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from spikeloom.models.datasets import load_dataset
from spikeloom.models.mixer import MIXER_PRESETS, MixerConfig, SpikingMixer, mixer_preset
from spikeloom.models.train import TrainConfig, _train_epoch, evaluate
from spikeloom.sw.compiler.compile_graph import GraphCompileOptions, compile_mixer
from spikeloom.sw.compiler.graph_golden import run_graph_golden
from spikeloom.sw.reports.table import format_table

#: Options that override the preset's `MixerConfig` field of the same name when given.
CONFIG_OPTIONS = {
    "channels": int,
    "blocks": int,
    "timesteps": int,
    "levels": int,
    "reset": str,
    "stages": int,
    "stage2_channels": int,
    "stage2_blocks": int,
    "token_norm": str,
}


def golden_predictions(model: SpikingMixer, gain_shift: int, x) -> tuple[np.ndarray, dict, int]:
    """Integer classes of `x`, each population's v_bits, and the weight bits the graph stores."""
    graph, _ = compile_mixer(model, GraphCompileOptions(gain_shift=gain_shift))
    with torch.no_grad():
        spikes = model.encoder(torch.from_numpy(x)).numpy().astype(np.uint8)
    result = run_graph_golden(graph, spikes)
    v_bits = {p.name: p.v_bits for p in graph.populations}
    stored = sum(w.values.size * w.bits for w in graph.weights.values())
    return result.readout.argmax(axis=1), v_bits, stored


def run_seed(config: MixerConfig, args, seed: int, data) -> dict:
    """Train one model from `seed`, evaluate float and golden; the record of the run."""
    x_train, y_train, x_test, y_test = data
    torch.manual_seed(seed)
    model = SpikingMixer(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    steps = args.epochs * -(-len(x_train) // args.batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    generator = torch.Generator().manual_seed(seed)
    train_config = TrainConfig(batch_size=args.batch_size, label_smoothing=args.label_smoothing)
    xs, ys = torch.from_numpy(x_train), torch.from_numpy(y_train)
    history = []
    start, cpu_start = time.perf_counter(), time.process_time()
    for epoch in range(args.epochs):
        loss = _train_epoch(model, optimizer, schedule, xs, ys, generator, train_config)
        record = {"epoch": epoch + 1, "loss": loss}
        if (epoch + 1) % args.eval_every == 0 or epoch + 1 == args.epochs:
            record["test_accuracy"] = evaluate(model, x_test, y_test)
            print(
                f"seed {seed} epoch {epoch + 1}: loss {loss:.4f} float test "
                f"{record['test_accuracy']:.4f}",
                flush=True,
            )
        history.append(record)
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start  # the machine is shared: CPU time compares
    model.eval()

    float_accuracy = evaluate(model, x_test, y_test)
    with torch.no_grad():
        float_predictions = model(torch.from_numpy(x_test)).argmax(dim=1).numpy()
    rows = [["float", float_accuracy, None, None]]
    run = {
        "seed": seed,
        "train_seconds": seconds,
        "train_cpu_seconds": cpu_seconds,
        "float": float_accuracy,
        "golden": {},
        "agreement": {},
        "max_v_bits": {},
        "weight_bits_stored": None,
        "history": history,
    }
    for shift in [int(s) for s in args.gain_shifts.split(",")]:
        predictions, v_bits, stored = golden_predictions(model, shift, x_test)
        accuracy = float((predictions == y_test).mean())
        agreement = float((predictions == float_predictions).mean())
        rows.append([f"golden, gain_shift {shift}", accuracy, agreement, max(v_bits.values())])
        run["golden"][shift] = accuracy
        run["agreement"][shift] = agreement
        run["max_v_bits"][shift] = max(v_bits.values())
        run["weight_bits_stored"] = stored
    if config.projection_gains:
        run["gain_exponents"] = {
            key: int(torch.round(value.detach())) for key, value in model.gain_exponents.items()
        }
    title = (
        f"Mixer-SNN on digits (360 test images): {args.preset}, seed {seed}, "
        f"{args.epochs} epochs, {seconds:.0f} s training ({cpu_seconds:.0f} s CPU), "
        f"{run['weight_bits_stored']} weight bits"
    )
    print()
    print(format_table(["model", "accuracy", "same class as float", "max v_bits"], rows, title))
    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="digits", choices=sorted(MIXER_PRESETS))
    for option, kind in CONFIG_OPTIONS.items():
        parser.add_argument("--" + option.replace("_", "-"), type=kind, default=None)
    parser.add_argument("--projection-gains", action="store_true")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--label-smoothing", type=float, default=0.1)
    parser.add_argument("--gain-shifts", default="0,2,4,5,6,7")
    parser.add_argument("--seeds", default="0", help="comma-separated, one run each")
    parser.add_argument("--eval-every", type=int, default=10, help="float test every N epochs")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="bench/results/mixer.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    overrides = {k: getattr(args, k) for k in CONFIG_OPTIONS if getattr(args, k) is not None}
    if args.projection_gains:
        overrides["projection_gains"] = True
    config = mixer_preset(args.preset, **overrides)
    if config.image_size != 8:
        raise ValueError(
            f"this bench trains on digits (8x8 images), got image_size {config.image_size}"
        )
    data = (*load_dataset("digits", "train"), *load_dataset("digits", "test"))
    runs = [run_seed(config, args, int(seed), data) for seed in args.seeds.split(",")]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    train = {
        k: getattr(args, k)
        for k in ("epochs", "batch_size", "lr", "weight_decay", "label_smoothing")
    }
    Path(args.out).write_text(
        json.dumps({"config": config.as_dict(), "train": train, "runs": runs}, indent=2)
    )
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
