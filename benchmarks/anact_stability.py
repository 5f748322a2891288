"""Does ANAct train in a post-activation ResNet-20? Short CIFAR-10 runs of ANAct beside its base families.

Each configuration trains ResNet-20 (width 0.5) from the same seed on the same stratified subset of the
CIFAR-10 training set for a few epochs (SGD, Nesterov, cosine schedule), then reports validation accuracy
and the last epoch's training loss, or the epoch where the loss became NaN/inf.

    python benchmarks/anact_stability.py --data /tmp/cifar10-jpeg

``--data`` is CIFAR-10 as an image folder (train/ and test/); writes benchmarks/results/anact_stability.md.
"""

from __future__ import annotations

import argparse
import datetime
import platform
from pathlib import Path

import torch

from actsearch.trainers import DivergenceError, Task, load_data, run_trial

CONFIGURATIONS = [  # (label, activation spec, learning rate)
    ("relu", {"family": "relu"}, 0.1),
    ("silu", {"family": "silu"}, 0.1),
    ("anact relu", {"family": "anact", "params": {"base": "relu"}}, 0.1),
    ("anact silu", {"family": "anact", "params": {"base": "silu"}}, 0.1),
    ("anact relu, subtract_mean false", {"family": "anact", "params": {"base": "relu", "subtract_mean": False}}, 0.1),
    ("anact silu, subtract_mean false", {"family": "anact", "params": {"base": "silu", "subtract_mean": False}}, 0.1),
    ("relu", {"family": "relu"}, 0.26),
    ("anact relu, subtract_mean false", {"family": "anact", "params": {"base": "relu", "subtract_mean": False}}, 0.26),
    ("anact silu, subtract_mean false", {"family": "anact", "params": {"base": "silu", "subtract_mean": False}}, 0.26),
]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="CIFAR-10 as an image folder (train/ and test/)")
    parser.add_argument("--images", type=int, default=4000, help="training images (stratified subset)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--output", default=str(Path(__file__).parent / "results" / "anact_stability.md"))
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    task = Task(dataset="imagefolder", data_root=args.data, network="resnet20", width=0.5, epochs=args.epochs,
                train_subset=args.images, batch_size=128, device="cpu", seed=1)
    data = load_data(task)
    rows = []
    for label, spec, lr in CONFIGURATIONS:
        try:
            result = run_trial(task, spec, {"lr": lr}, data=data)
            outcome = f"{result.val_accuracy:.3f} | {result.history[-1]['train_loss']:.3g}"
        except DivergenceError as error:
            outcome = f"diverged | {error}"
        rows.append(f"| {label} | {lr} | {outcome} |")
        print(rows[-1], flush=True)
    command = "python benchmarks/anact_stability.py --data " + args.data
    text = "\n".join([
        "## ANAct in a post-activation ResNet-20 (benchmarks/anact_stability.py)",
        "",
        f"Command: `{command}`  ",
        f"Machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
        f"torch {torch.__version__}  ",
        f"Date: {datetime.date.today().isoformat()}  ",
        f"Setup: CIFAR-10 JPEGs, train_subset {args.images} (stratified), validation on the 10% split, ResNet-20 "
        f"width 0.5, {args.epochs} epochs, batch 128, SGD Nesterov, cosine schedule, seed 1.",
        "",
        "| activation | lr | validation accuracy | last training loss |",
        "|---|---:|---:|---:|",
        *rows,
        "",
        "ANAct (in the reading adopted, see actsearch/activations/anact.py) keeps the second moment of its input, so",
        "after each residual add the stream is no longer damped as with ReLU and grows with depth.",
    ])
    Path(args.output).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
