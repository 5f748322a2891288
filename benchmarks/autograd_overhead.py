"""The fixed cost per forward + backward of a custom autograd node, against ReLU's built-in one, on a tiny tensor
(where the arithmetic is nothing): what a C++ extension could save ANAct and LayerAct on the CPU.

Usage::

    python benchmarks/autograd_overhead.py      # prints a markdown table

Rows: ``relu`` (built-in node); ``x * 2`` as a Python ``torch.autograd.Function``; the same as a C++
``torch::autograd::Function`` behind a ``TORCH_LIBRARY`` operator, compiled here with the system C++ compiler
against the installed torch (skipped, with the reason, if that fails); and the actsearch modules ``anact relu``
and ``la_silu`` (C kernels). Thread CPU time, one torch thread, medians of 7 rounds of 3,000 calls.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from actsearch.activations import create_activation  # noqa: E402

SHAPE = (4, 8, 4, 4)
CPP = r"""
#include <ATen/ATen.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/library.h>

struct Double : public torch::autograd::Function<Double> {
  static at::Tensor forward(torch::autograd::AutogradContext *, at::Tensor x) { return x * 2.0; }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext *,
                                                 torch::autograd::variable_list grads) {
    return {grads[0] * 2.0};
  }
};

at::Tensor double_op(const at::Tensor &x) { return Double::apply(x); }

TORCH_LIBRARY(actsearch_overhead, m) { m.def("double(Tensor x) -> Tensor"); }
TORCH_LIBRARY_IMPL(actsearch_overhead, CompositeImplicitAutograd, m) { m.impl("double", &double_op); }
"""


class PythonDouble(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2.0

    @staticmethod
    def backward(ctx, grad):
        return grad * 2.0


def _cpp_double(folder: Path):
    """The C++ operator, or the compiler's complaint."""
    from torch.utils.cpp_extension import include_paths

    source, library = folder / "double.cpp", folder / "double.so"
    source.write_text(CPP)
    torch_lib = os.path.join(os.path.dirname(torch.__file__), "lib")
    command = [os.environ.get("CXX", "c++"), "-O2", "-std=c++20", "-fPIC", "-shared",
               *(f"-I{path}" for path in include_paths()),
               f"-D_GLIBCXX_USE_CXX11_ABI={int(torch._C._GLIBCXX_USE_CXX11_ABI)}", str(source), "-o", str(library),
               f"-L{torch_lib}", "-lc10", "-ltorch_cpu", "-ltorch", f"-Wl,-rpath,{torch_lib}"]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        return result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "the C++ compiler failed"
    torch.ops.load_library(str(library))
    return torch.ops.actsearch_overhead.double


def _step(call, x, grad):
    leaf = x.detach().requires_grad_()
    call(leaf).backward(grad)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.parse_args(argv)
    torch.set_num_threads(1)
    x, grad = torch.randn(SHAPE), torch.randn(SHAPE)
    anact, la_silu = create_activation("anact", base="relu"), create_activation("la_silu")
    calls = {"relu (built-in node)": torch.relu, "x * 2, Python autograd.Function": PythonDouble.apply}
    with tempfile.TemporaryDirectory() as folder:
        cpp = _cpp_double(Path(folder))
        if callable(cpp):
            calls["x * 2, C++ autograd::Function (TORCH_LIBRARY op)"] = cpp
        calls["anact relu (actsearch, C kernels)"] = anact
        calls["la_silu (actsearch, C kernels)"] = la_silu
        times = {name: [] for name in calls}
        for _ in range(7):
            for name, call in calls.items():
                _step(call, x, grad)
                start = time.thread_time()
                for _ in range(3000):
                    _step(call, x, grad)
                times[name].append((time.thread_time() - start) / 3000)
    date = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    lines = [f"Command: `python benchmarks/autograd_overhead.py` ({date}; tensor {'x'.join(map(str, SHAPE))})", "",
             "| forward + backward of | us per call |", "|---|---:|"]
    lines += [f"| {name} | {statistics.median(values) * 1e6:.0f} |" for name, values in times.items()]
    if not callable(cpp):
        lines.append(f"\n(C++ row skipped: {cpp})")
    text = "\n".join(lines) + "\n"
    print(text)
    return text


if __name__ == "__main__":
    main()
