"""APALU, the trainable adaptive activation of Subramanian et al. (arXiv 2402.08244).

::

    f(x) = a * (x + x * sigmoid(1.702 x))   for x >= 0
    f(x) = b * (exp(x) - 1)                  for x < 0

Continuous at 0, slope ``1.5 a`` from the right and ``b`` from the left. The paper gives neither the initial
values nor how ``a`` and ``b`` stay positive. Chosen by measurement (``benchmarks/family_ablation.py``, table
"apalu" in BENCHMARKS.md: ResNet-20 x0.5, CIFAR-10 subset, 3 seeds): ``a = 0.5``, ``b = 0.75`` at
initialisation (``init_a``, ``init_b``), so the unit starts smooth (slope 0.75 on both sides of 0) with about
the gain of ReLU; with the a = b = 1 one might read from the formula every seed of a post-activation ResNet-20
stayed at chance (the residual stream doubles block after block). Positivity by ``softplus`` of the raw
parameters (``positivity="clamp"``: ``max(raw, 0.01)``, which trained worse), one pair per channel
(dimension 1; 45.2 +- 1.4% against 41.8 +- 1.6% per layer in that table) or, with ``per_channel=False``, per layer. :func:`parameter_groups` keeps them out of weight decay. Where
:func:`actsearch.activations.kernels.backend_for` gives fused kernels (float32 on the CPU; float32, float16 and
bfloat16 on CUDA) they run, one pass each way; elsewhere the PyTorch function below.

Example::

    import torch
    from actsearch.activations import APALU
    act = APALU(per_channel=True, num_channels=16)
    y = act(torch.randn(8, 16, 4, 4))
    act.a, act.b          # positive, shape (16,)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.function import once_differentiable

from actsearch.activations import _channels, kernels
from actsearch.activations.kernels import selfcheck
from actsearch.activations._checks import check_bool, check_channels, check_choice, check_number
from actsearch.activations.registry import register_activation

__all__ = ["APALU", "apalu"]

_K = 1.702
_CLAMP_FLOOR = 0.01  # positivity="clamp": the smallest a and b
_POSITIVITY = ("softplus", "clamp")


def _reduce_to(values: torch.Tensor, grad: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``sum(grad * values)`` over the dimensions ``like`` is broadcast along."""
    if like.numel() == 1:
        return torch.dot(grad.reshape(-1), values.reshape(-1)).reshape(like.shape)
    return (grad * values).sum_to_size(like.shape)


class _APALUFunction(torch.autograd.Function):
    """APALU with a closed-form backward that saves only ``x``. With z = 1.702 max(x, 0), the positive
    branch is ``a (z + silu(z)) / 1.702`` with slope ``a (1 + silu'(z))``, the negative one
    ``b expm1(min(x, 0))`` with slope ``b exp(x)``; x >= 0 takes the positive branch. Input-sized buffers
    are reused in place: on the CPU each fresh one costs about as much as the arithmetic."""

    @staticmethod
    def forward(ctx, x, a, b):
        a, b = a.to(x.dtype), b.to(x.dtype)
        z = x.clamp(min=0).mul_(_K)
        out = F.silu(z).add_(z).mul_(a / _K)
        out.add_(x.clamp(max=0).expm1_().mul_(b))
        ctx.save_for_backward(x, a, b)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, a, b = ctx.saved_tensors
        z = x.clamp(min=0).mul_(_K)
        exp_negative = x.clamp(max=0).exp_()
        positive = torch.ops.aten.silu_backward(grad, z).add_(grad).mul_(a) if ctx.needs_input_grad[0] else None
        grad_a = grad_b = None
        if ctx.needs_input_grad[1]:  # sum(grad * (z + silu(z))) / 1.702
            grad_a = (_reduce_to(z, grad, a) + _reduce_to(F.silu(z, inplace=True), grad, a)) / _K
        if ctx.needs_input_grad[2]:  # sum(grad * (exp(min(x, 0)) - 1))
            grad_b = _reduce_to(exp_negative, grad, b) - grad.sum_to_size(b.shape)
        grad_x = None
        if positive is not None:
            difference = exp_negative.mul_(grad).mul_(b).sub_(positive)
            # positive + [x < 0] (negative - positive); threshold_backward masks far faster than where on CPU
            grad_x = torch.ops.aten.threshold_backward.grad_input(
                difference, torch.neg(x, out=z), 0, grad_input=difference
            ).add_(positive)
        return grad_x, grad_a, grad_b


class _APALUKernels(torch.autograd.Function):
    """APALU through a backend's kernels (:mod:`actsearch.activations.kernels`), ``a`` and ``b`` of shape (1,) or
    (C,) (per channel, dimension 1); should a CUDA kernel fail in backward, backward differentiates the PyTorch
    implementation instead."""

    @staticmethod
    def forward(ctx, x, a, b, backend, per_channel: bool):
        ctx.backend, ctx.per_channel = backend, per_channel
        ctx.save_for_backward(x, a, b)
        return backend.apalu_forward(x, a, b, per_channel)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, a, b = ctx.saved_tensors
        needs = ctx.needs_input_grad[:3]
        parameters = needs[1] or needs[2]
        try:
            grad_x, grad_a, grad_b = ctx.backend.apalu_backward(x, grad, a, b, ctx.per_channel, needs[0], parameters)
        except kernels.KernelUnavailable:  # warned once: differentiate the PyTorch implementation
            grad_x, grad_a, grad_b = kernels.recomputed_gradients(_apalu_per_layer_or_channel, (x, a, b), needs, grad)
        if parameters and grad_a.dtype != a.dtype:  # the CUDA kernels sum in float32
            grad_a, grad_b = grad_a.to(a.dtype), grad_b.to(b.dtype)
        return grad_x, grad_a, grad_b, None, None


def apalu(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The APALU formula for ``a``, ``b`` tensors broadcastable against ``x``."""
    return _APALUFunction.apply(x, a, b)


def _apalu_per_layer_or_channel(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """:func:`apalu` with ``a``, ``b`` of shape (1,) or (C,) (per channel, dimension 1)."""
    return apalu(x, _channels.broadcast(a, x), _channels.broadcast(b, x))


@register_activation("apalu")
class APALU(nn.modules.lazy.LazyModuleMixin, nn.Module):
    """APALU with positive trainable ``a``, ``b`` (``positivity`` of ``a_raw``, ``b_raw``), starting at ``init_a``,
    ``init_b``, one pair per layer or per channel. Per channel without ``num_channels`` they are created on the
    first forward call."""

    def __init__(self, per_channel: bool = True, num_channels: int | None = None, init_a: float = 0.5,
                 init_b: float = 0.75, positivity: str = "softplus"):
        super().__init__()
        self.per_channel = check_bool("apalu", "per_channel", per_channel)
        self.num_channels = check_channels("apalu", num_channels)
        self.positivity = check_choice("apalu", "positivity", positivity, _POSITIVITY)
        floor = _CLAMP_FLOOR if self.positivity == "clamp" else 0.0
        self.init_a = check_number("apalu", "init_a", init_a, low=floor, low_inclusive=floor > 0)
        self.init_b = check_number("apalu", "init_b", init_b, low=floor, low_inclusive=floor > 0)
        lazy = _channels.needs_lazy_channels(self.per_channel, self.num_channels)
        count = _channels.parameter_count(self.per_channel, self.num_channels)
        self.a_raw = _channels.new_parameter(lazy, count, self._raw(self.init_a))
        self.b_raw = _channels.new_parameter(lazy, count, self._raw(self.init_b))

    def _raw(self, value: float) -> float:
        """The raw parameter whose positive transform is ``value``."""
        return math.log(math.expm1(value)) if self.positivity == "softplus" else value

    def _positive(self, raw: torch.Tensor) -> torch.Tensor:
        return F.softplus(raw) if self.positivity == "softplus" else raw.clamp(min=_CLAMP_FLOOR)

    def initialize_parameters(self, x: torch.Tensor) -> None:
        if self.has_uninitialized_params():
            channels = _channels.channels_of("apalu", x)
            with torch.no_grad():
                for raw, value in ((self.a_raw, self.init_a), (self.b_raw, self.init_b)):
                    raw.materialize((channels,))
                    raw.fill_(self._raw(value))

    @property
    def a(self) -> torch.Tensor:
        return self._positive(self.a_raw)

    @property
    def b(self) -> torch.Tensor:
        return self._positive(self.b_raw)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        backend = kernels.backend_for(x)
        if backend is not None and self._kernels_take(backend, x):
            a, b = self.a, self.b
            if backend.trusted(("apalu", x.dtype, self.per_channel), lambda: self._check_kernels(backend, x, a, b)):
                try:
                    return _APALUKernels.apply(x, a, b, backend, self.per_channel)
                except kernels.KernelUnavailable:
                    pass  # warned once; the PyTorch path from now on
        return _apalu_per_layer_or_channel(x, self.a, self.b)

    def input_gradient(self, grad: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``grad * f'(x)`` for the current ``a`` and ``b``, outside autograd (ANAct's statistics use it)."""
        with torch.no_grad():
            a, b = (_channels.broadcast(value, x).to(x.dtype) for value in (self.a, self.b))
            positive = torch.ops.aten.silu_backward(grad, x.clamp(min=0).mul_(_K)).add_(grad).mul_(a)
            negative = x.clamp(max=0).exp_().mul_(grad).mul_(b)
            return torch.where(x >= 0, positive, negative)

    def _check_kernels(self, backend, like: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> str | None:
        """How ``backend``'s kernels differ from the PyTorch implementation on a small input like ``like``, or None."""
        per_channel = self.per_channel
        return selfcheck.mismatch(lambda *inputs: _APALUKernels.apply(*inputs, backend, per_channel),
                                  _apalu_per_layer_or_channel, (selfcheck.test_input(like), a, b))

    def _kernels_take(self, backend, x: torch.Tensor) -> bool:
        """Whether ``backend``'s kernels can compute this layer for ``x`` (ANAct asks too, for its base)."""
        if x.dim() < 1 or x.numel() == 0 or self.has_uninitialized_params():
            return False
        if self.a_raw.dtype not in backend.PARAMETER_DTYPES:
            return False
        if self.per_channel and (x.dim() < 2 or x.shape[1] != self.a_raw.numel()):
            return False  # the PyTorch path raises the error
        return backend.accepts(x, channels_last_ok=True)

    def extra_repr(self) -> str:
        return (f"per_channel={self.per_channel}, num_channels={self.num_channels}, init_a={self.init_a}, "
                f"init_b={self.init_b}, positivity={self.positivity!r}")
