"""What an activation costs inside a network: one ResNet-20 training step (batch 128, CIFAR shape) per family.

Usage::

    python benchmarks/network_step.py            # writes benchmarks/results/network_step.md
    python benchmarks/network_step.py --quick

The per-activation ratios of ``benchmarks/activations.py`` isolate the activation; here it shares the step with
the convolutions, BatchNorm and the optimizer, as in a search trial. Each family is timed with the C kernels and,
where it has them, with its PyTorch implementation (``kernels.disabled()``). Steps are forward, cross-entropy,
backward and an SGD update in the trainer's channels-last layout; each round visits the configurations in a new
random order and the table shows medians over rounds of the calling thread's CPU time (``time.thread_time``),
with one intra-op thread on the CPU.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from actsearch.activations import apply_activations, cpu_kernels_available, kernels  # noqa: E402
from actsearch.trainers.networks.resnet import cifar_resnet  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "network_step.md"
# row label -> (activation spec, run with the PyTorch implementation)
CONFIGURATIONS = {
    "relu": ("relu", False),
    "la_silu": ("la_silu", False),
    "la_silu, pytorch path": ("la_silu", True),
    "la_hardsilu": ("la_hardsilu", False),
    "la_hardsilu, pytorch path": ("la_hardsilu", True),
    "anact relu": ({"family": "anact", "params": {"base": "relu"}}, False),
    "anact relu, pytorch path": ({"family": "anact", "params": {"base": "relu"}}, True),
    "anact silu": ({"family": "anact", "params": {"base": "silu"}}, False),
    "anact silu, pytorch path": ({"family": "anact", "params": {"base": "silu"}}, True),
    "silu": ("silu", False),
    "apalu": ("apalu", False),
    "apalu, pytorch path": ("apalu", True),
    "anact apalu": ({"family": "anact", "params": {"base": "apalu"}}, False),
}


def _trainer(spec, batch: int, seed: int = 0):
    torch.manual_seed(seed)
    model = cifar_resnet(20)
    if spec != "relu":
        apply_activations(model, spec)
    model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    generator = torch.Generator().manual_seed(seed)
    images = torch.randn(batch, 3, 32, 32, generator=generator).contiguous(memory_format=torch.channels_last)
    labels = torch.randint(0, 10, (batch,), generator=generator)

    def step():
        loss = F.cross_entropy(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def _seconds(step, pytorch_path: bool, steps: int) -> float:
    start = time.thread_time()
    for _ in range(steps):
        if pytorch_path:
            with kernels.disabled():
                step()
        else:
            step()
    return (time.thread_time() - start) / steps


def _machine() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            cpu = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor() or platform.machine()
    return f"{cpu}, {os.cpu_count()} logical CPUs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds of 1 step instead of 5 of 2")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rounds, steps = (2, 1) if args.quick else (5, 2)
    trainers = {name: (_trainer(spec, args.batch), pytorch) for name, (spec, pytorch) in CONFIGURATIONS.items()}
    for step, pytorch in trainers.values():
        _seconds(step, pytorch, 1)  # warm-up: lazy parameters, ANAct's first batch, the kernels' build
    times = {name: [] for name in trainers}
    order = list(trainers)
    rng = random.Random(0)
    for _ in range(rounds):
        rng.shuffle(order)
        for name in order:
            times[name].append(_seconds(*trainers[name], steps))
    relu = statistics.median(times["relu"])
    lines = [
        "## One ResNet-20 training step per activation (benchmarks/network_step.py)",
        "",
        f"- command: `python benchmarks/network_step.py{' --quick' if args.quick else ''}`",
        f"- machine: {_machine()}, torch {torch.__version__}, 1 intra-op thread, "
        f"C kernels {'loaded' if cpu_kernels_available() else 'UNAVAILABLE'}",
        f"- date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- setup: batch {args.batch}, 32x32 inputs, channels-last, SGD; medians over {rounds} rounds of {steps} "
        "steps, configurations interleaved in a new random order each round (CPU time of the calling thread)",
        "",
        "| activation | ms per step | x ReLU step |",
        "|---|---:|---:|",
    ]
    for name in CONFIGURATIONS:
        seconds = statistics.median(times[name])
        lines.append(f"| {name} | {seconds * 1e3:.0f} | {seconds / relu:.2f} |")
    text = "\n".join(lines) + "\n"
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
