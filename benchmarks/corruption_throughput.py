"""Images per second of every corruption: actsearch's batched tensor code against per-image numpy.

Three columns, all on the CPU, all severities 1..5 (the rate is images over the time of all five):

- actsearch: :func:`actsearch.trainers.corrupt` on batches of ``--batch`` float images, as the corrupted
  evaluation of a trial runs it (median of ``--rounds`` rounds), on ``--threads`` torch threads (default 1: one
  core, like the numpy code);
- make_cifar_c: the CIFAR-10-C recipes one image at a time (benchmarks/corruption_reference.py: numpy, OpenCV,
  scikit-image, Wand);
- imagecorruptions: the ``imagecorruptions`` package's ``corrupt`` one image at a time (its ImageNet-C
  constants, so its work per image can differ from the CIFAR recipe's; it is what people pip install). It needs a
  stand-in for ``pkg_resources`` to import on today's setuptools; a corruption that fails on today's numpy or
  scikit-image is reported with its error.

    python benchmarks/corruption_throughput.py --data /tmp/bench/cifar10-jpeg [--images 1000] [--reference-images 100]
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import os
import platform
import statistics
import sys
import time
import types
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corruption_reference import REFERENCE  # noqa: E402

from actsearch.trainers import Task, corrupt, load_data  # noqa: E402


def import_imagecorruptions():
    """The package, with ``pkg_resources.resource_filename`` supplied if setuptools no longer has it."""
    if importlib.util.find_spec("pkg_resources") is None:
        stand_in = types.ModuleType("pkg_resources")
        stand_in.resource_filename = lambda package, name: os.path.join(
            os.path.dirname(importlib.util.find_spec(package).origin), name)
        sys.modules["pkg_resources"] = stand_in
    import imagecorruptions

    return imagecorruptions


def ours_rate(images: torch.Tensor, name: str, batch: int, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        for severity in range(1, 6):
            for start in range(0, len(images), batch):
                corrupt(images[start : start + batch].float() / 255, name, severity, seed=severity)
        times.append(time.perf_counter() - started)
    return 5 * len(images) / statistics.median(times)


def per_image_rate(images: np.ndarray, apply) -> tuple[float | None, str]:
    np.random.seed(0)
    started = time.perf_counter()
    try:
        for severity in range(1, 6):
            for image in images:
                apply(image, severity)
    except Exception as error:  # a reference that no longer runs on today's libraries: report it, go on
        return None, f"fails: {type(error).__name__}: {str(error).splitlines()[0][:70]}"
    return 5 * len(images) / (time.perf_counter() - started), ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="the CIFAR-10 JPEG tree (train/, test/)")
    parser.add_argument("--images", type=int, default=1000, help="images per severity for actsearch")
    parser.add_argument("--reference-images", type=int, default=100, help="images per severity, per-image code")
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: one core, as the numpy code)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_data(Task(dataset="imagefolder", data_root=args.data, train_subset=1000, device="cpu"), "cpu")
    images = data.test_images[: args.images]
    per_image = images[: args.reference_images].permute(0, 2, 3, 1).numpy()
    library = import_imagecorruptions()
    print(f"# corruption throughput, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
          f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} "
          f"threads, imagecorruptions {getattr(library, '__version__', '1.1.2')}\n")
    print(f"images/s over severities 1-5; actsearch: {len(images)} images per severity in batches of {args.batch}, "
          f"median of {args.rounds}; per-image code: {len(per_image)} images per severity\n")
    print("| corruption | actsearch (batched) | make_cifar_c (per image) | imagecorruptions (per image) | "
          "actsearch / make_cifar_c |")
    print("|---|---:|---:|---:|---:|")
    for name in REFERENCE:
        ours = ours_rate(images, name, args.batch, args.rounds)
        recipe, recipe_note = per_image_rate(per_image, REFERENCE[name])
        package, package_note = per_image_rate(
            per_image, lambda image, severity, name=name: library.corrupt(image, corruption_name=name,
                                                                          severity=severity))
        cells = [f"{ours:,.0f}", f"{recipe:,.0f}" if recipe else recipe_note,
                 f"{package:,.0f}" if package else package_note, f"{ours / recipe:.1f}x" if recipe else ""]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
