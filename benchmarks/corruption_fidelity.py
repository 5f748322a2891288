"""How close actsearch's batched corruptions are to the CIFAR-10-C recipes (benchmarks/corruption_reference.py).

Two measures on CIFAR-10 test images, for every corruption and severity:

1. Pixels, on ``--images`` images. Deterministic corruptions: PSNR of ours against the reference (dB, peak 255)
   and their mean absolute difference (gray levels of 255). Random ones draw from different streams (torch's,
   numpy's), so the images cannot match: the mean absolute change they make to the clean image and the standard
   deviation of that change, ours against the reference's.
2. Accuracy: a ResNet-20 (width 0.5) trained once on a CIFAR-10 subset, scored on ``--accuracy-images`` test
   images under our corruption and under the reference one (severity-averaged), and the difference. Each side
   draws with one seed for all five severities (as a trial's evaluation does), so a corruption's per-severity
   differences are not independent; the last column, ours with another seed against ours, is the spread two
   random draws give on their own.

Data: the CIFAR-10 JPEG tree (``train/<class>/*.jpg``, ``test/<class>/*.jpg``)::

    mkdir -p /tmp/bench && tar xzf cifar10-jpeg.tar.gz -C /tmp/bench
    python benchmarks/corruption_fidelity.py --data /tmp/bench/cifar10-jpeg

Needs the reference's libraries (see benchmarks/corruption_reference.py). Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import datetime
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corruption_reference import REFERENCE, reference_corrupt  # noqa: E402

from actsearch.trainers import Task, build_network, corrupt, load_data  # noqa: E402
from actsearch.trainers.augment import Augmentation  # noqa: E402

DETERMINISTIC = {"defocus_blur", "zoom_blur", "brightness", "contrast", "pixelate", "jpeg_compression",
                 "gaussian_blur", "saturate"}


def ours(images: torch.Tensor, name: str, severity: int, seed: int = 0) -> np.ndarray:
    """Our corruption of uint8 NCHW images as float64 NHWC values in [0, 255]."""
    out = corrupt(images.double() / 255, name, severity, seed=seed)
    return (out * 255).permute(0, 2, 3, 1).numpy()


def pixel_rows(images: torch.Tensor) -> list[str]:
    clean = images.permute(0, 2, 3, 1).numpy().astype(np.float64)
    rows = []
    for name in REFERENCE:
        cells = []
        for severity in range(1, 6):
            mine, theirs = ours(images, name, severity), reference_corrupt(clean.astype(np.uint8), name, severity)
            if name in DETERMINISTIC:
                mse = ((mine - theirs) ** 2).mean()
                psnr = math.inf if mse == 0 else 10 * math.log10(255**2 / mse)
                cells.append(f"{psnr:.1f} dB, {np.abs(mine - theirs).mean():.2f}")
            else:
                change_mine, change_theirs = mine - clean, theirs - clean
                cells.append(f"{np.abs(change_mine).mean():.1f}/{np.abs(change_theirs).mean():.1f}, "
                             f"{change_mine.std():.1f}/{change_theirs.std():.1f}")
        kind = "deterministic" if name in DETERMINISTIC else "random"
        rows.append(f"| {name} | {kind} | " + " | ".join(cells) + " |")
    return rows


def train(data, epochs: int, seed: int) -> nn.Module:
    """ResNet-20 width 0.5, SGD Nesterov with a one-cycle schedule, crop and flip: a few CPU minutes."""
    torch.manual_seed(seed)
    model = build_network("resnet20", None, num_classes=len(data.classes), width=0.5)
    model = model.to(memory_format=torch.channels_last)
    augment = Augmentation(padding=4, mode="reflect", flip=True)
    generator = torch.Generator().manual_seed(seed)
    batch, count = 128, len(data.train_labels)
    steps = epochs * (count // batch)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9, nesterov=True, weight_decay=5e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.2, total_steps=steps, pct_start=0.25)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(count, generator=generator)
        for start in range(0, count - batch + 1, batch):
            index = order[start : start + batch]
            images = augment(data.train_images[index], generator)
            loss = loss_fn(model(normalize(images, data)), data.train_labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    return model.eval()


def normalize(images: torch.Tensor, data) -> torch.Tensor:
    floats = images.float() / 255 if images.dtype == torch.uint8 else images.float()
    out = (floats - data.mean.view(1, -1, 1, 1)) / data.std.view(1, -1, 1, 1)
    return out.contiguous(memory_format=torch.channels_last)


@torch.no_grad()
def accuracy(model: nn.Module, images01: torch.Tensor, labels: torch.Tensor, data) -> float:
    correct = 0
    for start in range(0, len(images01), 500):
        logits = model(normalize(images01[start : start + 500], data))
        correct += (logits.argmax(1) == labels[start : start + 500]).sum().item()
    return correct / len(images01)


def accuracy_rows(model, images: torch.Tensor, labels: torch.Tensor, data) -> tuple[float, list[str]]:
    clean = accuracy(model, images.float() / 255, labels, data)
    hwc = images.permute(0, 2, 3, 1).numpy()
    rows, gaps = [], []
    for name in REFERENCE:
        mine, theirs, reseeded = [], [], []
        for severity in range(1, 6):
            mine.append(accuracy(model, corrupt(images.float() / 255, name, severity, seed=0), labels, data))
            reference = torch.from_numpy(reference_corrupt(hwc, name, severity)).permute(0, 3, 1, 2) / 255
            theirs.append(accuracy(model, reference.float(), labels, data))
            if name not in DETERMINISTIC:
                reseeded.append(accuracy(model, corrupt(images.float() / 255, name, severity, seed=1), labels, data))
        gap = 100 * (np.mean(mine) - np.mean(theirs))
        gaps.append(abs(gap))
        per_severity = " ".join(f"{100 * (a - b):+.1f}" for a, b in zip(mine, theirs))
        floor = f"{100 * (np.mean(reseeded) - np.mean(mine)):+.1f}" if reseeded else "(deterministic)"
        rows.append(f"| {name} | {100 * np.mean(mine):.1f} | {100 * np.mean(theirs):.1f} | {gap:+.1f} | "
                    f"{per_severity} | {floor} |")
    rows.append(f"| mean of the 19 | | | {np.mean(gaps):.1f} (mean absolute) | | |")
    return clean, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="the CIFAR-10 JPEG tree (train/, test/)")
    parser.add_argument("--images", type=int, default=200, help="test images for the pixel comparison")
    parser.add_argument("--accuracy-images", type=int, default=1000, help="test images for the accuracy comparison")
    parser.add_argument("--train-subset", type=int, default=10000)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-pixels", action="store_true")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: steady on a shared machine)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    task = Task(dataset="imagefolder", data_root=args.data, network="resnet20", width=0.5,
                train_subset=args.train_subset, seed=args.seed, device="cpu")
    data = load_data(task, "cpu")
    print(f"# corruption fidelity, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
          f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads\n")
    if not args.skip_pixels:
        print(f"## pixels ({args.images} CIFAR-10 test images)\n")
        print("deterministic: PSNR ours vs reference, mean |ours - reference| (gray levels); random: mean |change| "
              "ours/reference, std of change ours/reference (gray levels)\n")
        print("| corruption | kind | severity 1 | 2 | 3 | 4 | 5 |")
        print("|---|---|---|---|---|---|---|")
        for row in pixel_rows(data.test_images[: args.images]):
            print(row, flush=True)
        print(f"\n({time.perf_counter() - started:.0f} s so far)\n")
    if args.skip_accuracy:
        return
    training = time.perf_counter()
    model = train(data, args.epochs, args.seed)
    trained = time.perf_counter()
    images, labels = data.test_images[: args.accuracy_images], data.test_labels[: args.accuracy_images]
    clean, rows = accuracy_rows(model, images, labels, data)
    print(f"## accuracy of one ResNet-20 (width 0.5, {args.epochs} epochs on {args.train_subset} training images, "
          f"trained in {trained - training:.0f} s), {len(images)} test images; clean accuracy {100 * clean:.1f}%\n")
    print("| corruption | ours (%) | reference (%) | ours - reference (points) | per severity 1..5 | "
          "ours seed 1 - seed 0 (points) |")
    print("|---|---:|---:|---:|---|---:|")
    for row in rows:
        print(row)
    print(f"\n(total {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
