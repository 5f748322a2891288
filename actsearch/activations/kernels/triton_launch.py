"""Launching the Triton kernels of :mod:`actsearch.activations.kernels.triton_kernels` for LayerAct, ANAct and APALU
(the CUDA backend, :mod:`actsearch.activations.kernels.cuda`, calls these).

APALU: one elementwise pass each way, per layer or per channel; backward sums the gradients of ``a`` and ``b``
per channel, tile by tile, added up in a fixed order.

ANAct (parameter-free bases relu, leaky_relu, silu, hardsilu, gelu, gelu-tanh; per layer or per channel;
contiguous or channels-last) is one elementwise pass each way, as its base alone is; backward also sums
``grad * f(x)`` and ``grad`` per channel, tile by tile, for the gradient of the scale (so of ``beta``), and adds
the tiles up in a fixed order. Its running statistics come from PyTorch code on a sample of the batch.

LayerAct: eager PyTorch runs it on a GPU as a chain of memory-bound passes (statistics, normalisation, sigmoid,
product; more in backward). When a sample fits in one block of ``MAX_BLOCK`` elements (every ResNet-20/32/44
layer on CIFAR: at most 16 x 32 x 32), each direction is one kernel, one program per sample: the forward reads
the input once and writes the output once, as ReLU does; backward reads the input and the output gradient and
writes the input gradient (above ``2 * BACKWARD_CHUNK`` elements it reads them twice, the second time mostly
from L2, since the whole sample would not fit in registers). Larger samples (an ImageNet ResNet's first stage:
64 x 56 x 56) are cut into blocks, one program each, so that a small batch still fills the GPU: a kernel takes
each block's partial sums, PyTorch adds them up per sample in float64, and a second kernel does the
elementwise part (one more read of the input each way). Backward recomputes the gate (arithmetic is cheap on a
GPU; memory is not), so only the input is kept. Statistics are summed in float32 after a shift by the sample's first element (so the
one-pass variance does not cancel); float16/bfloat16 inputs are computed in float32 and the output has the
input's dtype.

The kernels are imported on first use (Triton compiles them for the device then). If that fails (no working
Triton toolchain), a warning says so once and the three families keep their PyTorch implementations on the GPU
(a backward whose kernel fails recomputes its forward in PyTorch and differentiates that). With
``TRITON_INTERPRET=1`` set before the first use, Triton's interpreter runs the kernels on CPU tensors: the tests
check them that way on machines without a GPU.

Example::

    import torch
    from actsearch.activations.kernels import triton_launch
    x = torch.randn(8, 16, 4, 4, device="cuda")
    out, mean, rstd = triton_launch.layeract_forward(x, alpha=1e-5, hard=False)
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import warnings
from collections.abc import Callable, Sequence

import torch

from actsearch.activations.kernels.tensors import same_layout

__all__ = [
    "BACKWARD_CHUNK",
    "MAX_BLOCK",
    "SPLIT_BLOCK",
    "KernelUnavailable",
    "anact_backward",
    "anact_forward",
    "apalu_backward",
    "apalu_forward",
    "layeract_backward",
    "layeract_forward",
    "recomputed_gradients",
    "triton_available",
]

MAX_BLOCK = 16384  # elements of one sample held in registers at once; larger samples are processed in blocks
_failed: list[str] = []  # the reason, once a kernel could not be compiled or launched


class KernelUnavailable(RuntimeError):
    """A Triton kernel could not be compiled or launched; the caller takes the PyTorch path."""


@functools.cache
def triton_available() -> bool:
    return importlib.util.find_spec("triton") is not None


@functools.cache
def _kernels():
    from actsearch.activations.kernels import triton_kernels  # imports triton

    return triton_kernels


def _launch(kernel_name: str, grid, *args, **meta) -> None:
    """Launch a kernel on the device of its first argument. A failure raises :class:`KernelUnavailable`; the first
    one (no working Triton toolchain) is warned once and turns the kernels off."""
    device = args[0].device
    try:
        with torch.cuda.device(device) if device.type == "cuda" else contextlib.nullcontext():
            getattr(_kernels(), kernel_name)[grid](*args, **meta)
    except Exception as error:  # Triton's compile and launch errors have no common base class
        reason = f"{type(error).__name__}: {error}"
        if not _failed:
            _failed.append(reason)
            warnings.warn(f"actsearch: the Triton kernels for LayerAct, ANAct and APALU are unavailable, so they run "
                          f"slower on the GPU ({reason[:300]})", RuntimeWarning, stacklevel=3)
        raise KernelUnavailable(reason) from error


def recomputed_gradients(function: Callable[..., torch.Tensor], inputs: Sequence[torch.Tensor],
                         needs_input_grad: Sequence[bool], grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
    """The gradients of ``function(*inputs)`` (a PyTorch implementation) for the output gradient ``grad``, by
    autograd over a recomputed forward; None where ``needs_input_grad`` says no. What a backward falls back on
    when its kernel fails (the forward's kernel ran, so its result is already in the graph)."""
    with torch.enable_grad():
        leaves = [value.detach().requires_grad_(need) for value, need in zip(inputs, needs_input_grad)]
        out = function(*leaves)
        wanted = [leaf for leaf in leaves if leaf.requires_grad]
        gradients = iter(torch.autograd.grad(out, wanted, grad) if wanted else ())
    return tuple(next(gradients) if leaf.requires_grad else None for leaf in leaves)


SPLIT_BLOCK = 4096  # elements per program when samples are cut into blocks
# LayerAct's backward holds more per element than its forward: a program holding a whole sample of 16,384
# elements spilled registers (ptxas, sm_90, 16 warps; 8,192 did not), so above 2 * BACKWARD_CHUNK elements it
# reads its sample in chunks of BACKWARD_CHUNK, twice
BACKWARD_CHUNK = 4096


def _single_block(m: int) -> tuple[int, int]:
    """``(BLOCK, num_warps)`` for a sample of ``m <= MAX_BLOCK`` elements in one program."""
    block = max(128, 1 << (m - 1).bit_length())
    return block, max(1, min(16, block // 512))


def _block_sums(kernel: str, x: torch.Tensor, *args, **meta) -> torch.Tensor:
    """A ``*_block_sums_kernel``, one program per block of a sample, its two partial sums added up per sample in
    float64: shape (samples, 2)."""
    samples, m = x.shape[0], x[0].numel()
    blocks = -(-m // SPLIT_BLOCK)
    partial = torch.empty(samples, blocks, 2, device=x.device, dtype=torch.float32)
    _launch(kernel, (samples * blocks,), x, *args, partial, m, BLOCK=SPLIT_BLOCK, **meta)
    return partial.double().sum(1)


def layeract_forward(x: torch.Tensor, alpha: float, hard: bool):
    """``(out, mean, rstd)`` of LayerAct over each sample (all non-batch dimensions) of ``x``; mean and rstd are
    float32, one per sample."""
    samples, m = x.shape[0], x[0].numel()
    out = torch.empty_like(x)
    if m <= MAX_BLOCK:
        mean = torch.empty(samples, device=x.device, dtype=torch.float32)
        rstd = torch.empty_like(mean)
        block, warps = _single_block(m)
        _launch("layeract_forward_kernel", (samples,), x, out, mean, rstd, m, alpha, HARD=hard, BLOCK=block,
                num_warps=warps)
        return out, mean, rstd
    sums = _block_sums("layeract_block_sums_kernel", x)
    first = torch.as_strided(x, (samples,), (m,)).double()  # each sample's first element in memory: the shift
    offset = sums[:, 0] / m
    mean = (first + offset).float()
    rstd = ((sums[:, 1] - sums[:, 0] * offset) / (m - 1) + alpha).rsqrt().float()
    _launch("layeract_gate_kernel", (samples * -(-m // SPLIT_BLOCK),), x, out, mean, rstd, m, HARD=hard,
            BLOCK=SPLIT_BLOCK)
    return out, mean, rstd


def layeract_backward(x: torch.Tensor, grad: torch.Tensor, mean: torch.Tensor, rstd: torch.Tensor, hard: bool):
    """The input gradient of :func:`layeract_forward` for the output gradient ``grad``."""
    grad = same_layout(grad, x)
    grad_in = torch.empty_like(x)
    samples, m = x.shape[0], x[0].numel()
    if m <= MAX_BLOCK:
        block, warps = _single_block(m)
        chunks = block // BACKWARD_CHUNK if block > 2 * BACKWARD_CHUNK else 1
        _launch("layeract_backward_kernel", (samples,), x, grad, mean, rstd, grad_in, m, HARD=hard,
                BLOCK=block // chunks, CHUNKS=chunks, num_warps=warps)
        return grad_in
    sums = _block_sums("layeract_backward_block_sums_kernel", x, grad, mean, rstd, HARD=hard)
    k = (rstd.double() ** 3 * sums[:, 1] / (m - 1)).float()
    mean_h = (sums[:, 0] / m).float()
    _launch("layeract_backward_apply_kernel", (samples * -(-m // SPLIT_BLOCK),), x, grad, mean, rstd, k, mean_h,
            grad_in, m, HARD=hard, BLOCK=SPLIT_BLOCK)
    return grad_in


def _tiling(x: torch.Tensor, per_channel: bool):
    """``(outer, channels, inner, strides, BLOCK_C, BLOCK_I, num_warps)``: ``x`` seen as (outer, channels, inner)
    with the memory strides of those three axes. Per layer the computation is elementwise: one channel, all
    elements in memory order (contiguous or channels-last alike). Per channel, where channels are the fastest
    axis in memory (channels-last, or nothing after dimension 1 as in (N, C)), all elements are one run of
    interleaved channels (outer 1)."""
    if not per_channel:
        outer, channels, inner, strides = 1, 1, x.numel(), (0, 0, 1)
    else:
        channels = x.shape[1]
        if x.is_contiguous() and x[0, 0].numel() > 1:
            outer, inner = x.shape[0], x[0, 0].numel()
            strides = (channels * inner, inner, 1)
        else:  # channels-last 4-D, or (N, C)
            outer, inner, strides = 1, x.numel() // channels, (0, 1, channels)
    block_c = min(64, 1 << (channels - 1).bit_length())
    block_i = max(16, min(1 << max(inner - 1, 0).bit_length(), 4096 // block_c))
    return outer, channels, inner, strides, block_c, block_i, max(4, min(8, block_c * block_i // 512))


def _grid(outer: int, channels: int, inner: int, block_c: int, block_i: int):
    return (outer * -(-inner // block_i), -(-channels // block_c))


def anact_forward(x: torch.Tensor, kind: int, parameter: float, scale: torch.Tensor, shift: torch.Tensor,
                  per_channel: bool) -> torch.Tensor:
    """``f(x) * scale - shift`` with float32 ``scale`` and ``shift`` (one each, or one per channel of dimension 1)
    for the ANAct base ``kind`` (:data:`actsearch.activations.kernels.ANACT_KINDS`, apalu excepted)."""
    out = torch.empty_like(x)
    outer, channels, inner, strides, block_c, block_i, warps = _tiling(x, per_channel)
    _launch("anact_forward_kernel", _grid(outer, channels, inner, block_c, block_i), x, out, scale, shift, channels,
            inner, *strides, parameter, KIND=kind, BLOCK_C=block_c, BLOCK_I=block_i, num_warps=warps)
    return out


def anact_backward(x: torch.Tensor, grad: torch.Tensor, kind: int, parameter: float, scale: torch.Tensor,
                   per_channel: bool, input_gradient: bool, sums: bool):
    """``(grad * f'(x) * scale or None, (sum(grad * f(x)), sum(grad)) per channel or None)`` for
    :func:`anact_forward`; the sums in float32, added up in a fixed order (deterministic)."""
    grad = same_layout(grad, x)
    grad_x = torch.empty_like(x) if input_gradient else None
    outer, channels, inner, strides, block_c, block_i, warps = _tiling(x, per_channel)
    grid = _grid(outer, channels, inner, block_c, block_i)
    partial = torch.empty(grid[0], 2, channels, device=x.device, dtype=torch.float32) if sums else None
    # pointers a launch does not use get x, which is never written
    _launch("anact_backward_kernel", grid, x, grad, x if grad_x is None else grad_x, scale,
            x if partial is None else partial, channels, inner, *strides, parameter, KIND=kind,
            INPUT_GRADIENT=input_gradient, SUMS=sums, BLOCK_C=block_c, BLOCK_I=block_i, num_warps=warps)
    return grad_x, None if partial is None else partial.sum(0)


def apalu_forward(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor, per_channel: bool) -> torch.Tensor:
    """APALU of ``x`` with float32 ``a``, ``b`` (one each, or one per channel of dimension 1)."""
    out = torch.empty_like(x)
    outer, channels, inner, strides, block_c, block_i, warps = _tiling(x, per_channel)
    _launch("apalu_forward_kernel", _grid(outer, channels, inner, block_c, block_i), x, out, a, b, channels, inner,
            *strides, BLOCK_C=block_c, BLOCK_I=block_i, num_warps=warps)
    return out


def apalu_backward(x: torch.Tensor, grad: torch.Tensor, a: torch.Tensor, b: torch.Tensor, per_channel: bool,
                   input_gradient: bool, parameter_gradients: bool):
    """``(grad_x or None, grad_a or None, grad_b or None)`` for :func:`apalu_forward`; the parameter gradients in
    float32, added up in a fixed order."""
    grad = same_layout(grad, x)
    grad_x = torch.empty_like(x) if input_gradient else None
    outer, channels, inner, strides, block_c, block_i, warps = _tiling(x, per_channel)
    grid = _grid(outer, channels, inner, block_c, block_i)
    partial = torch.empty(grid[0], 2, channels, device=x.device, dtype=torch.float32) if parameter_gradients else None
    _launch("apalu_backward_kernel", grid, x, grad, x if grad_x is None else grad_x, a, b,
            x if partial is None else partial, channels, inner, *strides, INPUT_GRADIENT=input_gradient,
            SUMS=parameter_gradients, BLOCK_C=block_c, BLOCK_I=block_i, num_warps=warps)
    if partial is None:
        return grad_x, None, None
    sums = partial.sum(0)
    return grad_x, sums[0], sums[1]

