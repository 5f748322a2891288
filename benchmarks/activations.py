"""Forward + backward cost of every activation family relative to ReLU, and memory kept for backward.

Usage::

    python benchmarks/activations.py            # full run, writes benchmarks/results/activations.md
    python benchmarks/activations.py --quick    # a short run (fewer rounds and iterations)

Every family runs on the ResNet-20 activation shapes (128x16x32x32, 128x32x16x16, 128x64x8x8) side by
side: each round visits the families in a new random order, and the table shows medians over rounds, so
slow phases of a shared machine hit all families alike. CPU timings are the CPU time of the calling
thread with one intra-op thread (``time.thread_time``): on a machine shared with other jobs, wall-clock
time mostly measures the neighbours. On a GPU (when one is present), wall-clock time after
synchronisation, in float32 and bfloat16. Memory: on the CPU the bytes of the tensors autograd saves for
backward (``saved_tensors_hooks``, distinct storages); on a GPU the peak of ``max_memory_allocated``
during forward + backward above what was allocated before; both in units of the input's size.
``naive layeract`` is the plain autograd formula written below, the baseline the fused LayerAct must
beat by 2x. Page faults: the median number of minor page faults per forward + backward on the CPU, per shape:
memory that glibc returned to the system (heap trimming) and that an input-sized allocation touches again;
their cost is part of the time, and they come and go with the allocation pattern, which is most of the
variation between runs.
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

try:
    import resource
except ImportError:  # Windows
    resource = None

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from actsearch.activations import LayerAct, create_activation, kernels  # noqa: E402

SHAPES = [(128, 16, 32, 32), (128, 32, 16, 16), (128, 64, 8, 8)]
RESULTS = Path(__file__).resolve().parent / "results" / "activations.md"


class NaiveLayerAct(nn.Module):
    """LayerAct as a reader would first write it: plain autograd over mean, var and sigmoid."""

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        dims = tuple(range(1, y.dim()))
        mean = y.mean(dims, keepdim=True)
        var = y.var(dims, keepdim=True, unbiased=True)
        return y * torch.sigmoid((y - mean) / torch.sqrt(var + 1e-5))


class PyTorchPath(nn.Module):
    """A family run with its PyTorch implementation, the C kernels turned off (to show what they gain)."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with kernels.disabled():
            return self.module(x)


def _autograd_layeract() -> nn.Module:
    module = LayerAct()
    module.fused = False
    return module


# row label -> (module factory, channels needed for per-channel families)
FAMILIES = {
    "relu": lambda c: create_activation("relu"),
    "leaky_relu": lambda c: create_activation("leaky_relu"),
    "prelu": lambda c: create_activation("prelu"),
    "prelu per channel": lambda c: create_activation("prelu", per_channel=True, num_channels=c),
    "elu": lambda c: create_activation("elu"),
    "selu": lambda c: create_activation("selu"),
    "silu": lambda c: create_activation("silu"),
    "hardsilu": lambda c: create_activation("hardsilu"),
    "gelu": lambda c: create_activation("gelu"),
    "gelu tanh": lambda c: create_activation("gelu", approximate="tanh"),
    "mish": lambda c: create_activation("mish"),
    "la_silu": lambda c: create_activation("la_silu"),
    "la_hardsilu": lambda c: create_activation("la_hardsilu"),
    "la_silu pytorch path": lambda c: PyTorchPath(create_activation("la_silu")),
    "la_hardsilu pytorch path": lambda c: PyTorchPath(create_activation("la_hardsilu")),
    "la_silu autograd fallback": lambda c: _autograd_layeract(),
    "naive layeract": lambda c: NaiveLayerAct(),
    "anact relu": lambda c: create_activation("anact", base="relu"),
    "anact silu": lambda c: create_activation("anact", base="silu"),
    "anact gelu": lambda c: create_activation("anact", base="gelu"),
    "anact silu per channel": lambda c: create_activation("anact", base="silu", per_channel=True, num_channels=c),
    # the first reading (mixed moments, rms gain, per layer), beside the default (centred, forward, per channel)
    "anact silu first reading": lambda c: create_activation("anact", base="silu", moments="mixed", gain="rms",
                                                            per_channel=False),
    "anact relu pytorch path": lambda c: PyTorchPath(create_activation("anact", base="relu")),
    "anact silu pytorch path": lambda c: PyTorchPath(create_activation("anact", base="silu")),
    "anact apalu": lambda c: create_activation("anact", base="apalu"),
    "apalu": lambda c: create_activation("apalu"),
    "apalu per channel": lambda c: create_activation("apalu", per_channel=True, num_channels=c),
}
ANACT_BASES = {"anact relu": "relu", "anact silu": "silu", "anact gelu": "gelu", "anact apalu": "apalu"}
# with --compile: torch.compile(module) of these rows, the fused path a model gets from torch.compile(model)
COMPILED = ("relu", "la_silu", "la_hardsilu", "anact silu")


def _step(module: nn.Module, x: torch.Tensor, grad: torch.Tensor) -> None:
    leaf = x.detach().requires_grad_()
    module(leaf).backward(grad)
    for parameter in module.parameters():
        parameter.grad = None


def _minor_faults() -> int:
    """Minor page faults of the calling thread so far (0 where the platform cannot tell)."""
    if resource is None or not hasattr(resource, "RUSAGE_THREAD"):  # Linux only
        return 0
    return resource.getrusage(resource.RUSAGE_THREAD).ru_minflt


def _time(module, x, grad, iterations: int, device: torch.device) -> tuple[float, float]:
    """``(seconds, minor page faults)`` per forward + backward: thread CPU time on the CPU, synchronised wall time on
    a GPU (no faults counted there)."""
    if device.type == "cuda":
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(iterations):
            _step(module, x, grad)
        torch.cuda.synchronize()
        return (time.perf_counter() - start) / iterations, 0.0
    faults, start = _minor_faults(), time.thread_time()
    for _ in range(iterations):
        _step(module, x, grad)
    return (time.thread_time() - start) / iterations, (_minor_faults() - faults) / iterations


def _memory(module, x, grad, device: torch.device) -> float:
    """Memory for backward in units of the input size (see the module docstring)."""
    leaf = x.detach().requires_grad_()
    input_bytes = x.numel() * x.element_size()
    if device.type == "cuda":
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        module(leaf).backward(grad)
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - before) / input_bytes
    storages = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        out = module(leaf)
    out.backward(grad)
    return sum(storages.values()) / input_bytes


def _families(compiled: bool) -> dict:
    families = dict(FAMILIES)
    if compiled:
        for name in COMPILED:
            families[f"{name} compiled"] = lambda c, make=FAMILIES[name]: torch.compile(make(c), dynamic=False)
    return families


def measure(device: torch.device, dtype: torch.dtype, rounds: int, iterations: int, compiled: bool = False,
            seed: int = 0):
    """{shape: {family: (median seconds, memory, median minor page faults)}}."""
    rng = random.Random(seed)
    results = {}
    for shape in SHAPES:
        generator = torch.Generator().manual_seed(seed)
        x = torch.randn(shape, generator=generator).to(device, dtype)
        grad = torch.randn(shape, generator=generator).to(device, dtype)
        modules = {name: make(shape[1]).to(device, dtype) for name, make in _families(compiled).items()}
        memory = {}
        for name, module in modules.items():
            _step(module, x, grad)  # warm-up; ANAct's first batch sets its statistics
            memory[name] = _memory(module, x, grad, device)
        times = {name: [] for name in modules}
        faults = {name: [] for name in modules}
        for _ in range(rounds):
            order = list(modules)
            rng.shuffle(order)
            for name in order:
                seconds, faulted = _time(modules[name], x, grad, iterations, device)
                times[name].append(seconds)
                faults[name].append(faulted)
        results[shape] = {
            name: (statistics.median(times[name]), memory[name], statistics.median(faults[name])) for name in modules
        }
    return results


def _shape_label(shape) -> str:
    return "x".join(map(str, shape))


def _table(results) -> list[str]:
    shapes = list(results)
    header = "| family | " + " | ".join(f"{_shape_label(s)}: x ReLU (ms)" for s in shapes)
    header += " | memory for backward (x input) | page faults per pass |"
    lines = [header, "|---" * (len(shapes) + 3) + "|"]
    for name in results[shapes[0]]:
        cells = []
        for shape in shapes:
            seconds = results[shape][name][0]
            cells.append(f"{seconds / results[shape]['relu'][0]:.2f} ({seconds * 1e3:.2f})")
        memories = sorted({round(results[s][name][1], 2) for s in shapes})
        faults = " / ".join(f"{results[s][name][2]:.0f}" for s in shapes)
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {' / '.join(f'{m:g}' for m in memories)} | {faults} |")
    return lines


def _targets(results, layeract_limit: float) -> list[str]:
    def ratios(numerator, denominator):
        return [results[s][numerator][0] / results[s][denominator][0] for s in results]

    checks = []
    for name in ("la_silu", "la_hardsilu"):
        worst = max(ratios(name, "relu"))
        checks.append((f"{name} <= {layeract_limit}x ReLU", worst, worst <= layeract_limit))
    worst_speedup = min(ratios("naive layeract", "la_silu"))
    checks.append(("la_silu >= 2x faster than naive layeract", worst_speedup, worst_speedup >= 2.0))
    for name, base in ANACT_BASES.items():
        worst = max(ratios(name, base))
        checks.append((f"{name} <= 1.3x {base}", worst, worst <= 1.3))
    for name in ("la_silu compiled", "la_hardsilu compiled"):
        if name in next(iter(results.values())):
            worst = max(ratios(name, "relu"))
            checks.append((f"{name} <= {layeract_limit}x ReLU (eager)", worst, worst <= layeract_limit))
    if "anact silu compiled" in next(iter(results.values())):
        worst = max(ratios("anact silu compiled", "silu"))
        checks.append(("anact silu compiled <= 1.3x silu (eager)", worst, worst <= 1.3))
    lines = ["| target | worst over the shapes | met |", "|---|---|---|"]
    lines += [f"| {label} | {value:.2f}x | {'yes' if ok else 'no'} |" for label, value, ok in checks]
    return lines


def _machine(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            cpu = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} logical CPUs, 1 intra-op thread, torch {torch.__version__}"


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds of 2 iterations instead of 15 of 5")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile'd ReLU, LayerAct, ANAct")
    parser.add_argument("--output", type=Path, default=RESULTS, help="markdown file to write")
    args = parser.parse_args(argv)
    rounds, iterations = (3, 2) if args.quick else (15, 5)
    torch.set_num_threads(1)
    command = " ".join(["python benchmarks/activations.py"] + (argv if argv is not None else sys.argv[1:]))
    sections = [
        "## Activation families: forward + backward cost",
        "",
        f"Command: `{command}`  ",
        f"Date: {datetime.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}  ",
        f"Method: medians over {rounds} rounds of {iterations} forward + backward passes per family, families "
        "interleaved in a new random order each round; cells are time relative to ReLU on the same shape "
        "(milliseconds in brackets). See the docstring of `benchmarks/activations.py`.",
    ]
    runs = [(torch.device("cpu"), torch.float32, 2.0)]
    if torch.cuda.is_available():
        runs += [(torch.device("cuda"), torch.float32, 1.5), (torch.device("cuda"), torch.bfloat16, 1.5)]
    for device, dtype, limit in runs:
        results = measure(device, dtype, rounds, iterations, compiled=args.compile)
        label = "CPU" if device.type == "cpu" else "GPU"
        sections += [
            "",
            f"### {label}, {str(dtype).removeprefix('torch.')}: {_machine(device)}",
            "",
            *_table(results),
            "",
            *_targets(results, limit),
        ]
    sections += [
        "",
        "Notes: on the CPU, float32 LayerAct, APALU and ANAct (bases relu, leaky_relu, silu, hardsilu, gelu, apalu)"
        " run the C kernels of `actsearch/activations/kernels/kernels.c`, one pass over memory each way (LayerAct's"
        " statistics are taken sample by sample from the cache); the `pytorch path` rows are the same modules with "
        "the kernels turned off, chains of memory-bound eager passes. What is left above ReLU is the sigmoid "
        "(LA-SiLU pays one exp per element in forward and keeps the gate, so its backward takes none), the extra "
        "reductions (LayerAct's statistics, from the cache; ANAct's grad * f(x) for beta's gradient) and a fixed "
        "Python cost per call (ANAct: about 0.15 ms per forward + backward), which weighs most on the smallest "
        "shape. On a GPU, LayerAct, APALU and ANAct (but over apalu) run the Triton kernels of "
        "`actsearch/activations/kernels/triton_kernels.py` (the `pytorch path` rows without them) and the other families PyTorch code; the `compiled` rows, with `--compile`, time "
        "`torch.compile(module)`, which is what `torch.compile(model)` gives a network.",
    ]
    text = "\n".join(sections) + "\n"
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    print(text)
    return text


if __name__ == "__main__":
    main()
