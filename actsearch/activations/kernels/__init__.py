"""The fast kernels of LayerAct, ANAct and APALU behind one entry point: :func:`backend_for` gives the backend
for a tensor, the C kernels on the CPU (:mod:`~actsearch.activations.kernels.cpu`), the Triton kernels on CUDA
(:mod:`~actsearch.activations.kernels.cuda`), or None, where the family's PyTorch implementation runs.

Both backends have the same functions: ``accepts(x, channels_last_ok)``; ``layeract_groups``,
``layeract_forward`` and ``layeract_backward``; ``anact_prepare`` (ANAct's coefficients, and on the CPU its
running statistics), ``anact_forward`` and ``anact_backward``; ``apalu_forward`` and ``apalu_backward``; and
``trusted(key, check)``, the first-use check of a kernel (CUDA only); and constants: ``ANACT_KINDS`` (the bases it
implements), ``ANACT_STATISTICS`` (whether ``anact_prepare`` takes in the batch's statistics) and
``PARAMETER_DTYPES`` (of the parameters and buffers it reads). Each family keeps its math, one autograd
Function for the kernels, and a few lines that ask :func:`backend_for`.

PyTorch runs where a backend would not: with the kernels switched off (``ACTSEARCH_NATIVE_KERNELS=0`` or
:func:`disabled`), while tracing (torch.compile, torch.export, torch.jit: they need PyTorch ops), for tensor
subclasses, on other devices, and where the kernels cannot be built (no C compiler, no working Triton: a
warning says so once). A backend's ``accepts`` then says which tensors it takes (float32 on the CPU; float32,
float16 and bfloat16 on CUDA; float64 never).

Example::

    import torch
    from actsearch.activations import kernels
    x = torch.randn(8, 16, 4, 4)
    backend = kernels.backend_for(x)              # kernels.cpu here, once its library is built
    if backend is not None and backend.accepts(x):
        out, saved = backend.layeract_forward(x, alpha=1e-5, hard=False, groups=8, for_backward=True)
    with kernels.disabled():
        assert kernels.backend_for(x) is None     # the PyTorch implementations, e.g. to compare
"""

from __future__ import annotations

from types import ModuleType

import torch

from actsearch.activations.kernels import cpu, cuda
from actsearch.activations.kernels.switch import disabled, switched_on
from actsearch.activations.kernels.tensors import same_layout
from actsearch.activations.kernels.triton_launch import KernelUnavailable, recomputed_gradients

__all__ = [
    "ANACT_GAINS",
    "ANACT_KINDS",
    "ANACT_MOMENTS",
    "Backend",
    "KernelUnavailable",
    "backend_for",
    "disabled",
    "recomputed_gradients",
    "same_layout",
    "switched_on",
]

Backend = ModuleType  # kernels.cpu or kernels.cuda, with the functions the module docstring lists
# ANAct's bases as the kernels number them (kernels.c and triton_kernels.py); p is LeakyReLU's slope
ANACT_KINDS = {"relu": 0, "leaky_relu": 1, "silu": 2, "hardsilu": 3, "gelu": 4, "gelu_tanh": 5, "apalu": 6}
# ANAct's readings as the kernels number them (the enums of kernels.c)
ANACT_MOMENTS = {"mixed": 0, "raw": 1, "centred": 2}
ANACT_GAINS = {"rms": 0, "forward": 1, "backward": 2}
# device type -> its backend's loader, which gives the backend, or None where it cannot run
_LOADERS = {"cpu": cpu.loaded, "cuda": cuda.loaded}


def backend_for(x: torch.Tensor) -> Backend | None:
    """The kernels for ``x``'s device, or None where the PyTorch implementations must run (see the module
    docstring). Whether a given tensor suits them is the backend's ``accepts``."""
    if type(x) is not torch.Tensor or torch.compiler.is_compiling() or torch.jit.is_tracing() or not switched_on():
        return None
    load = _LOADERS.get(x.device.type)
    return None if load is None else load()
