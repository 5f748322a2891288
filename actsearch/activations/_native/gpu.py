"""LayerAct on CUDA as Triton kernels: each direction in one kernel, one program per sample.

Eager PyTorch runs LayerAct on a GPU as a chain of memory-bound passes (statistics, normalisation, sigmoid,
product; more in backward). Here the forward reads the input once and writes the output once, as ReLU does,
when a sample fits in one block of ``MAX_BLOCK`` elements (every ResNet-20/32/44 layer on CIFAR: at most
16 x 32 x 32); larger samples are read twice, the second time mostly from the L2 cache. Backward reads the
input and the output gradient and writes the input gradient, recomputing the gate (arithmetic is cheap on a
GPU; memory is not), so only the input is kept for backward. Statistics are summed in float32 after a shift by
the sample's first element (so the one-pass variance does not cancel); float16/bfloat16 inputs are computed in
float32 and the output has the input's dtype.

The kernels are imported on first use (Triton compiles them for the device then). If that fails (no working
Triton toolchain), a warning says so once and LayerAct keeps its PyTorch implementation on the GPU; so it does
where ``ACTSEARCH_NATIVE_KERNELS=0`` or :func:`actsearch.activations._native.disabled` turn the kernels off.
With ``TRITON_INTERPRET=1`` set before the first use, Triton's interpreter runs the kernels on CPU tensors: the
tests check them that way on machines without a GPU.

Example::

    import torch
    from actsearch.activations._native import gpu
    if gpu.usable(x):                                        # x: a CUDA tensor with the batch first
        out, mean, rstd = gpu.layeract_forward(x, alpha=1e-5, hard=False)
"""

from __future__ import annotations

import functools
import importlib.util
import warnings

import torch

from actsearch.activations import _native

__all__ = ["MAX_BLOCK", "KernelUnavailable", "layeract_backward", "layeract_forward", "triton_available", "usable"]

MAX_BLOCK = 16384  # elements of one sample held in registers at once; larger samples are processed in blocks
_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
_failed: list[str] = []  # the reason, once a kernel could not be compiled or launched


class KernelUnavailable(RuntimeError):
    """A Triton kernel could not be compiled or launched; the caller takes the PyTorch path."""


@functools.cache
def triton_available() -> bool:
    return importlib.util.find_spec("triton") is not None


def usable(x: torch.Tensor) -> bool:
    """True for a float32/float16/bfloat16 CUDA tensor whose samples are dense blocks (contiguous, or
    channels-last 4-D) when Triton is installed, outside torch.compile tracing (which makes its own kernels)."""
    if x.device.type != "cuda" or x.dtype not in _DTYPES or x.dim() < 2 or torch.compiler.is_compiling():
        return False
    if not (x.is_contiguous() or (x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last))):
        return False
    return triton_available() and not _failed and _native.switched_on()


@functools.cache
def _kernels():
    from actsearch.activations._native import triton_kernels  # imports triton

    return triton_kernels.layeract_forward_kernel, triton_kernels.layeract_backward_kernel


def _launch_shape(m: int) -> tuple[int, bool, int]:
    """``(BLOCK, SINGLE, num_warps)`` for samples of ``m`` elements."""
    block = min(MAX_BLOCK, max(128, 1 << (m - 1).bit_length()))
    return block, m <= block, max(1, min(16, block // 512))


def layeract_forward(x: torch.Tensor, alpha: float, hard: bool):
    """``(out, mean, rstd)`` of LayerAct over each sample (all non-batch dimensions) of ``x``; mean and rstd are
    float32, one per sample."""
    samples, m = x.shape[0], x[0].numel()
    out = torch.empty_like(x)
    mean = torch.empty(samples, device=x.device, dtype=torch.float32)
    rstd = torch.empty_like(mean)
    block, single, warps = _launch_shape(m)
    try:
        forward_kernel = _kernels()[0]
        forward_kernel[(samples,)](x, out, mean, rstd, m, alpha, HARD=hard, BLOCK=block, SINGLE=single,
                                   num_warps=warps)
    except Exception as error:  # Triton's compile and launch errors have no common base class
        _failed.append(f"{type(error).__name__}: {error}")
        warnings.warn(f"actsearch: the Triton kernels for LayerAct are unavailable, so it runs slower on the GPU "
                      f"({_failed[0][:300]})", RuntimeWarning, stacklevel=2)
        raise KernelUnavailable(_failed[0]) from error
    return out, mean, rstd


def layeract_backward(x: torch.Tensor, grad: torch.Tensor, mean: torch.Tensor, rstd: torch.Tensor, hard: bool):
    """The input gradient of :func:`layeract_forward` for the output gradient ``grad``."""
    grad = _native.same_layout(grad, x)
    grad_in = torch.empty_like(x)
    block, single, warps = _launch_shape(x[0].numel())
    backward_kernel = _kernels()[1]
    backward_kernel[(x.shape[0],)](x, grad, mean, rstd, grad_in, x[0].numel(), HARD=hard, BLOCK=block,
                                   SINGLE=single, num_warps=warps)
    return grad_in
