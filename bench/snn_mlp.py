"""Accuracy of the spiking SNN-MLP on digits: the float model and its compiled graph on the golden
model.

Trains a `SpikingSNNMLP` (default: 32 channels, 2 blocks, 2x2 patches on a 4x4 token grid, T 4,
scan groups of 4 with carry 2^-2, binary weights, Adam lr 1e-2 with a cosine schedule, batch
64), compiles it with `compile_snn_mlp` at several gain shifts (the float model's scan carries
are the exact twin of the integer ones at the model's own `--gain-shift`; other shifts round
thresholds, biases and carries more or less finely), and evaluates the float model and each
graph on the 360 test images with `run_graph_golden`, with the fraction of images whose integer
class is the float model's. Prints a table and writes bench/results/snn_mlp.json.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from spikeloom.models.datasets import load_dataset
from spikeloom.models.snn_mlp import SNNMLPConfig, SpikingSNNMLP
from spikeloom.models.train import TrainConfig, _train_epoch, evaluate
from spikeloom.sw.compiler.compile_graph import GraphCompileOptions
from spikeloom.sw.compiler.compile_snn_mlp import compile_snn_mlp
from spikeloom.sw.compiler.graph import Graph
from spikeloom.sw.compiler.graph_golden import run_graph_golden
from spikeloom.sw.reports.table import format_table


def stored_weight_bits(graph: Graph) -> int:
    """Bits of every weight tensor, each stored once however many projections use it."""
    return sum(weight.values.size * weight.bits for weight in graph.weights.values())


def golden_predictions(model: SpikingSNNMLP, gain_shift: int, x) -> tuple[np.ndarray, Graph]:
    graph, _ = compile_snn_mlp(model, GraphCompileOptions(gain_shift=gain_shift))
    with torch.no_grad():
        spikes = model.encoder(torch.from_numpy(x)).numpy().astype(np.uint8)
    return run_graph_golden(graph, spikes).readout.argmax(axis=1), graph


def train(model, x_train, y_train, x_test, y_test, args) -> tuple[list[dict], float]:
    """Adam with a cosine schedule over every step; returns the history and the seconds."""
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
    return history, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--blocks", type=int, default=2)
    parser.add_argument("--timesteps", type=int, default=4)
    parser.add_argument("--levels", type=int, default=4)
    parser.add_argument("--reset", default="zero")
    parser.add_argument("--gain-shift", type=int, default=4, help="the model's (its scan twin's)")
    parser.add_argument("--gain-shifts", default="0,2,4,7", help="compiled and evaluated")
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="bench/results/snn_mlp.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    config = SNNMLPConfig(
        channels=args.channels,
        blocks=args.blocks,
        timesteps=args.timesteps,
        levels=args.levels,
        reset=args.reset,
        gain_shift=args.gain_shift,
    )
    x_train, y_train = load_dataset("digits", "train")
    x_test, y_test = load_dataset("digits", "test")
    model = SpikingSNNMLP(config)
    history, seconds = train(model, x_train, y_train, x_test, y_test, args)
    model.eval()

    float_accuracy = evaluate(model, x_test, y_test)
    with torch.no_grad():
        float_predictions = model(torch.from_numpy(x_test)).argmax(dim=1).numpy()
    rows = [["float", float_accuracy, None, None]]
    records = {"float": float_accuracy, "golden": {}, "agreement": {}, "v_bits": {}}
    for shift in [int(s) for s in args.gain_shifts.split(",")]:
        predictions, graph = golden_predictions(model, shift, x_test)
        accuracy = float((predictions == y_test).mean())
        agreement = float((predictions == float_predictions).mean())
        v_bits = {p.name: p.v_bits for p in graph.populations}
        rows.append([f"golden, gain_shift {shift}", accuracy, agreement, max(v_bits.values())])
        records["golden"][shift] = accuracy
        records["agreement"][shift] = agreement
        records["v_bits"][shift] = v_bits
    neurons = sum(p.size for p in graph.populations)
    weight_bits = stored_weight_bits(graph)
    title = (
        f"SNN-MLP on digits (360 test images): C {args.channels}, {args.blocks} blocks, "
        f"T {args.timesteps}, gain_shift {args.gain_shift}, {args.epochs} epochs, "
        f"seed {args.seed}, {seconds:.0f} s training; {neurons} neurons, "
        f"{weight_bits} weight bits stored"
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
                "neurons": neurons,
                "weight_bits_stored": weight_bits,
                "history": history,
                **records,
            },
            indent=2,
        )
    )
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
