"""LayerAct: SiLU-like activations whose gate sees the input normalised over the layer (Yoon & Lim, AAAI 2025).

For an input ``y`` with a batch dimension first, per sample over ``dims`` (default: every non-batch dimension)::

    mu = mean(y), var = unbiased variance of y (N - 1 denominator, as the official code)
    n = (y - mu) / sqrt(var + alpha)
    out = y * gate(n)          gate = sigmoid (LA-SiLU) or hardsigmoid (LA-HardSiLU)

Gradients flow through ``mu`` and ``var``. No parameters, no running statistics: training and evaluation
behave the same. ``alpha`` is 1e-5 in the paper's CIFAR runs and 0.1 for ImageNet.

The default implementation is a custom autograd function with a hand-derived backward (exact for the
unbiased variance). Where :func:`actsearch.activations.kernels.backend_for` gives fused kernels it runs them
instead: on the CPU (float32, statistics over trailing dimensions, the default) C kernels, which keep the input
for backward, and for sigmoid the gate, so that backward takes no exp (the input gradient is then written over
the gate); on CUDA (float32, float16, bfloat16; statistics over every non-batch dimension) Triton kernels,
which keep only the input. Otherwise it is PyTorch code, which keeps two input-sized tensors for backward (the
input and the gate for sigmoid, the input and ``n`` for hardsigmoid; only the input for float16/bfloat16,
where backward recomputes the rest).
Statistics and gate are computed in float32 for float16/bfloat16 inputs (e.g. under autocast), so nothing
overflows; the output has the input's dtype. Set ``module.fused = False`` (or call
``layer_act(..., fused=False)``) for the plain autograd formula, e.g. when double backward is needed.

Example::

    import torch
    from actsearch.activations import LayerAct, create_activation
    la_silu = create_activation("la_silu")                      # LayerAct(gate="sigmoid", alpha=1e-5)
    y = la_silu(torch.randn(8, 16, 4, 4))
    last_two = LayerAct(gate="hardsigmoid", dims=(-2, -1))      # statistics per sample and channel
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from actsearch.activations import kernels
from actsearch.activations.kernels import selfcheck
from actsearch.activations._checks import check_choice, check_number
from actsearch.activations.registry import ActivationSpecError, register_activation

__all__ = ["GATES", "LayerAct", "layer_act"]

GATES = ("sigmoid", "hardsigmoid")
_LOW_PRECISION = (torch.float16, torch.bfloat16)


def _check_dims(dims: object) -> tuple[int, ...] | None:
    if dims is None:
        return None
    values = (dims,) if isinstance(dims, int) and not isinstance(dims, bool) else dims
    allowed = "null (every non-batch dimension), a dimension index, or a list of them, never 0 (the batch)"
    if (
        not isinstance(values, Sequence)
        or isinstance(values, str)
        or not values
        or any(isinstance(d, bool) or not isinstance(d, int) for d in values)
        or len(set(values)) != len(values)
        or 0 in values
    ):
        raise ActivationSpecError(f"layeract: dims={dims!r} is not allowed; allowed: {allowed}")
    return tuple(values)


def _reduction_dims(x: torch.Tensor, dims: tuple[int, ...] | None) -> tuple[int, ...]:
    if x.dim() < 2:
        raise ActivationSpecError(f"layeract: needs inputs of shape (N, ...); got shape {tuple(x.shape)}")
    if dims is None:
        return tuple(range(1, x.dim()))
    resolved = tuple(sorted([d % x.dim() if -x.dim() <= d < x.dim() else -1 for d in dims]))
    if -1 in resolved or 0 in resolved or len(set(resolved)) != len(resolved):
        raise ActivationSpecError(
            f"layeract: dims={dims!r} does not fit an input of shape {tuple(x.shape)}; "
            "allowed: distinct non-batch dimensions"
        )
    return resolved


def _statistics(y: torch.Tensor, dims: tuple[int, ...], alpha: float, count: int):
    """``(n, mean, rstd)`` with ``rstd = 1 / sqrt(unbiased var + alpha)``, mean and rstd broadcastable to ``y``."""
    if dims == tuple(range(y.dim() - len(dims), y.dim())):
        # native_layer_norm gets the statistics and n in one fused pass (torch.var_mean is several times
        # slower on CPU). It uses the biased variance; unbiased var + alpha = M/(M-1) * (biased var + eps)
        # with eps = alpha (M-1)/M, so rstd and n are the layer-norm ones times sqrt((M-1)/M).
        shape = y.shape[-len(dims):]
        correction = math.sqrt((count - 1) / count)
        weight = torch.full(shape, correction, dtype=y.dtype, device=y.device)
        n, mean, rstd = torch.native_layer_norm(y, shape, weight, None, alpha * (count - 1) / count)
        return n, mean, rstd * correction
    var, mean = torch.var_mean(y, dims, correction=1, keepdim=True)
    rstd = torch.rsqrt(var + alpha)
    return (y - mean).mul_(rstd), mean, rstd


def _graph_is_freed() -> bool:
    """True inside a backward pass that frees the graph (no retain_graph / create_graph)."""
    if torch.compiler.is_compiling():
        return False
    keep_graph = getattr(torch._C._autograd, "_get_current_graph_task_keep_graph", None)
    return keep_graph is not None and not keep_graph()


class _LayerActFunction(torch.autograd.Function):
    """Fused LayerAct with an analytic backward.

    With h = grad_out * y * gate'(n), r = rstd and M elements per group, the input gradient is
    ``grad_out * gate(n) + r * (h - mean(h)) - r * n * sum(h * n) / (M - 1)``; the last term is the variance
    path (d var / dy_i = 2 (y_i - mu) / (M - 1)), the mean term the mean path. It is evaluated as
    ``grad_out * gate + r * h - k * (y - mu) - r * mean(h)`` with ``k = r^3 sum(h (y - mu)) / (M - 1)``.
    Fresh input-sized tensors dominate the CPU cost (page faults), so backward allocates only its result
    and works in place in the saved gate (or ``n``) tensor, which belongs to this node, when the graph is
    freed after this pass.
    """

    @staticmethod
    def forward(ctx, y, hard: bool, alpha: float, dims: tuple[int, ...]):
        count = _group_size(y, dims)
        low_precision = y.dtype in _LOW_PRECISION
        compute = y.float() if low_precision else y
        n, mean, rstd = _statistics(compute, dims, alpha, count)
        ctx.hard, ctx.dims, ctx.count, ctx.low_precision = hard, dims, count, low_precision
        if low_precision:
            gate = F.hardsigmoid(n, inplace=True) if hard else n.sigmoid_()
            ctx.save_for_backward(y, mean, rstd)
            return gate.mul_(compute).to(y.dtype)
        if hard:
            ctx.save_for_backward(y, n, mean, rstd)
            return F.hardsigmoid(n).mul_(y)
        gate = n.sigmoid_()
        ctx.save_for_backward(y, gate, mean, rstd)
        return gate * y if ctx.needs_input_grad[0] else gate.mul_(y)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        dims, count = ctx.dims, ctx.count
        if ctx.low_precision:
            y, mean, rstd = ctx.saved_tensors
            compute, grad = y.float(), grad_out.float()
            work = (compute - mean).mul_(rstd)  # n, recomputed
            if not ctx.hard:
                work.sigmoid_()
        else:
            y, saved, mean, rstd = ctx.saved_tensors
            compute, grad = y, grad_out
            # the gate (sigmoid) or n (hardsigmoid) is referenced by this graph node only: reuse its memory
            # unless the graph is kept for another backward pass
            work = saved if _graph_is_freed() else saved.clone()
        if ctx.hard:
            grad_in = F.hardsigmoid(work).mul_(grad)
            if work.dtype == torch.float64:  # aten's hardsigmoid_backward uses a float32 1/6
                h = work.abs_().lt_(3).mul_(grad).div_(6)
            else:
                h = torch.ops.aten.hardsigmoid_backward.grad_input(grad, work, grad_input=work)
        else:
            grad_in = grad * work
            h = torch.ops.aten.sigmoid_backward.grad_input(grad, work, grad_input=work)
        h.mul_(compute)
        sum_h = h.sum(dims, keepdim=True)
        grad_in.addcmul_(h, rstd)
        sum_h_centered = h.mul_(compute).sum(dims, keepdim=True).sub_(mean * sum_h)
        k = rstd.pow(3).mul_(sum_h_centered).div_(count - 1)
        grad_in.addcmul_(compute, k, value=-1.0).add_(k * mean - rstd * sum_h / count)
        return grad_in.to(y.dtype), None, None, None


class _LayerActKernels(torch.autograd.Function):
    """LayerAct through a backend's kernels (:mod:`actsearch.activations.kernels`), statistics over ``groups``
    consecutive blocks of ``y``. Backward gets the input and what the forward kernel saved (on the CPU, for the
    sigmoid gate, the gate, over which it writes the input gradient when the graph is freed after it, so a
    ``saved_tensors_hooks`` pack hook that keeps its own reference to the saved gate sees it change then); should
    a CUDA kernel fail there, it differentiates the PyTorch implementation instead."""

    @staticmethod
    def forward(ctx, y, backend, hard: bool, alpha: float, dims: tuple[int, ...], groups: int, for_backward: bool):
        out, saved = backend.layeract_forward(y, alpha, hard, groups, for_backward)
        ctx.backend, ctx.hard, ctx.alpha, ctx.dims = backend, hard, alpha, dims
        ctx.save_for_backward(y, *saved)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):
        y, *saved = ctx.saved_tensors
        try:
            grad_in = ctx.backend.layeract_backward(y, grad_out, saved, ctx.hard, reuse_saved=_graph_is_freed())
        except kernels.KernelUnavailable:
            hard, alpha, dims = ctx.hard, ctx.alpha, ctx.dims
            (grad_in,) = kernels.recomputed_gradients(lambda leaf: _LayerActFunction.apply(leaf, hard, alpha, dims),
                                                      (y,), (True,), grad_out)
        return grad_in, None, None, None, None, None, None


def _group_size(y: torch.Tensor, dims: tuple[int, ...]) -> int:
    count = math.prod([y.shape[d] for d in dims])
    if count < 2:
        raise ActivationSpecError(
            f"layeract: the statistics need at least 2 elements per sample; input shape {tuple(y.shape)}, dims {dims}"
        )
    return count


def _layer_act_fused(y: torch.Tensor, hard: bool, alpha: float, dims: tuple[int, ...]) -> torch.Tensor:
    backend = kernels.backend_for(y)
    if backend is not None and y.numel():
        groups = backend.layeract_groups(y, dims, _group_size(y, dims))
        key = ("layeract", y.dtype, hard)
        if groups and backend.trusted(key, lambda: _check_kernels(backend, y, hard, alpha, dims)):
            try:
                return _LayerActKernels.apply(y, backend, hard, alpha, dims, groups,
                                              y.requires_grad and torch.is_grad_enabled())
            except kernels.KernelUnavailable:
                pass  # warned once; the PyTorch path from now on
    return _LayerActFunction.apply(y, hard, alpha, dims)


def _check_kernels(backend, like: torch.Tensor, hard: bool, alpha: float, dims: tuple[int, ...]) -> str | None:
    """How ``backend``'s kernels differ from the PyTorch implementation on a small input like ``like``, or None."""
    small = selfcheck.test_input(like)
    groups = backend.layeract_groups(small, dims, _group_size(small, dims))
    return selfcheck.mismatch(lambda t: _LayerActKernels.apply(t, backend, hard, alpha, dims, groups, True),
                              lambda t: _LayerActFunction.apply(t, hard, alpha, dims), (small,))


def _layer_act_autograd(y: torch.Tensor, hard: bool, alpha: float, dims: tuple[int, ...]) -> torch.Tensor:
    compute = y.float() if y.dtype in _LOW_PRECISION else y
    var, mean = torch.var_mean(compute, dims, correction=1, keepdim=True)
    n = (compute - mean) * torch.rsqrt(var + alpha)
    gate = torch.clamp(n / 6 + 0.5, 0.0, 1.0) if hard else torch.sigmoid(n)
    return (compute * gate).to(y.dtype)


def layer_act(
    x: torch.Tensor,
    gate: str = "sigmoid",
    alpha: float = 1e-5,
    dims: int | Sequence[int] | None = None,
    *,
    fused: bool = True,
) -> torch.Tensor:
    """Functional LayerAct (see the module docstring); ``fused=False`` uses plain autograd ops."""
    hard = check_choice("layeract", "gate", gate, GATES) == "hardsigmoid"
    alpha = check_number("layeract", "alpha", alpha, low=0.0, low_inclusive=False)
    dims = _reduction_dims(x, _check_dims(dims))
    if fused:
        return _layer_act_fused(x, hard, alpha, dims)
    return _layer_act_autograd(x, hard, alpha, dims)


@register_activation("layeract", aliases={"la_silu": {"gate": "sigmoid"}, "la_hardsilu": {"gate": "hardsigmoid"}})
class LayerAct(nn.Module):
    """LayerAct module: ``gate`` "sigmoid" is LA-SiLU, "hardsigmoid" LA-HardSiLU; ``dims`` are the dimensions
    the per-sample statistics cover (None: all but the batch one; ``(-2, -1)`` mirrors the official
    ``cal_dim_count=2``). See the module docstring for the formula and implementation."""

    fused: bool = True

    def __init__(self, gate: str = "sigmoid", alpha: float = 1e-5, dims: int | Sequence[int] | None = None):
        super().__init__()
        self.gate = check_choice("layeract", "gate", gate, GATES)
        self.alpha = check_number("layeract", "alpha", alpha, low=0.0, low_inclusive=False)
        self.dims = _check_dims(dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dims = _reduction_dims(x, self.dims)
        hard = self.gate == "hardsigmoid"
        if self.fused:
            return _layer_act_fused(x, hard, self.alpha, dims)
        return _layer_act_autograd(x, hard, self.alpha, dims)

    def extra_repr(self) -> str:
        return f"gate={self.gate!r}, alpha={self.alpha}, dims={self.dims}"
