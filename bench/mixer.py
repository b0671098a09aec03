"""Accuracy of the Mixer-SNN on digits: the float model and its compiled graph on the golden model.

Trains a `SpikingMixer` (default: 32 channels, 2 blocks, 2x2 patches on a 4x4 token grid, T 4,
binary weights, Adam lr 1e-2 with a cosine schedule, batch 64), compiles it with
`compile_mixer` at several gain shifts (the float model does not depend on the shift; it sets
how finely the integer thresholds and biases are rounded), and evaluates the float model and
each graph on the 360 test images with `run_graph_golden`, with the fraction of images whose
integer class is the float model's. Prints a table and writes
bench/results/mixer.json.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from spikeloom.models.datasets import load_dataset
from spikeloom.models.mixer import MixerConfig, SpikingMixer
from spikeloom.models.train import TrainConfig, _train_epoch, evaluate
from spikeloom.sw.compiler.compile_graph import GraphCompileOptions, compile_mixer
from spikeloom.sw.compiler.graph_golden import run_graph_golden
from spikeloom.sw.reports.table import format_table


def golden_predictions(model: SpikingMixer, gain_shift: int, x) -> tuple[np.ndarray, dict]:
    graph, _ = compile_mixer(model, GraphCompileOptions(gain_shift=gain_shift))
    with torch.no_grad():
        spikes = model.encoder(torch.from_numpy(x)).numpy().astype(np.uint8)
    result = run_graph_golden(graph, spikes)
    v_bits = {p.name: p.v_bits for p in graph.populations}
    return result.readout.argmax(axis=1), v_bits


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--blocks", type=int, default=2)
    parser.add_argument("--timesteps", type=int, default=4)
    parser.add_argument("--levels", type=int, default=4)
    parser.add_argument("--reset", default="zero")
    parser.add_argument("--gain-shifts", default="0,2,4,7")
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="bench/results/mixer.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    config = MixerConfig(
        channels=args.channels,
        blocks=args.blocks,
        timesteps=args.timesteps,
        levels=args.levels,
        reset=args.reset,
    )
    x_train, y_train = load_dataset("digits", "train")
    x_test, y_test = load_dataset("digits", "test")
    model = SpikingMixer(config)
    train_config = TrainConfig(epochs=args.epochs, batch_size=64, lr=args.lr, seed=args.seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    steps = args.epochs * -(-len(x_train) // train_config.batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    generator = torch.Generator().manual_seed(args.seed)
    xs, ys = torch.from_numpy(x_train), torch.from_numpy(y_train)
    history = []
    start = time.perf_counter()
    for epoch in range(args.epochs):
        loss = _train_epoch(model, optimizer, schedule, xs, ys, generator, train_config)
        accuracy = evaluate(model, x_test, y_test)
        history.append({"epoch": epoch + 1, "loss": loss, "test_accuracy": accuracy})
        print(f"epoch {epoch + 1}: loss {loss:.4f} float test {accuracy:.4f}", flush=True)
    seconds = time.perf_counter() - start
    model.eval()

    float_accuracy = evaluate(model, x_test, y_test)
    with torch.no_grad():
        float_predictions = model(torch.from_numpy(x_test)).argmax(dim=1).numpy()
    rows = [["float", float_accuracy, None, None]]
    records = {"float": float_accuracy, "golden": {}, "agreement": {}, "v_bits": {}}
    for shift in [int(s) for s in args.gain_shifts.split(",")]:
        predictions, v_bits = golden_predictions(model, shift, x_test)
        accuracy = float((predictions == y_test).mean())
        agreement = float((predictions == float_predictions).mean())
        rows.append([f"golden, gain_shift {shift}", accuracy, agreement, max(v_bits.values())])
        records["golden"][shift] = accuracy
        records["agreement"][shift] = agreement
        records["v_bits"][shift] = v_bits
    title = (
        f"Mixer-SNN on digits (360 test images): C {args.channels}, {args.blocks} blocks, "
        f"T {args.timesteps}, {args.epochs} epochs, seed {args.seed}, {seconds:.0f} s training"
    )
    print()
    print(format_table(["model", "accuracy", "same class as float", "max v_bits"], rows, title))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(
        json.dumps(
            {
                "config": config.as_dict(),
                "epochs": args.epochs,
                "lr": args.lr,
                "seed": args.seed,
                "train_seconds": seconds,
                "history": history,
                **records,
            },
            indent=2,
        )
    )
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
