"""ANAct: adaptive normalisation of an activation's forward and backward gains (arXiv 2208.13315).

No official code exists and the exact formula could not be read (only the abstract and summaries: "keep both
rho and rho' near unity through a normalization factor lambda", "use mini-batch statistics"). For a base
activation ``f`` and the layer input ``x``:

- forward gain ``rho`` by ``moments``: ``"centred"`` (default) ``Var(f(x)) / Var(x)``; ``"raw"``
  ``E[f(x)^2] / E[x^2]``; ``"mixed"`` ``E[f(x)^2] / Var(x)`` (this package's first reading); backward gain
  ``rho' = E[f'(x)^2]`` (a backpropagated gradient has zero mean, so raw and centred coincide);
- ``lambda`` by ``gain``: ``"forward"`` (default) ``1/sqrt(rho)``; ``"backward"`` ``1/sqrt(rho')``;
  ``"rms"`` ``sqrt((rho + rho') / (2 rho rho'))``, between the two (the first reading);
- output ``(lambda + 0.3 tanh(beta)) * (f(x) - mu)`` with ``mu`` the mean of ``f(x)``.

The defaults were chosen by measurement (``benchmarks/family_ablation.py``; tables in BENCHMARKS.md, "ANAct and
APALU readings"): in a post-activation ResNet-20 (x0.5, 4,000 CIFAR-10 images, 4 epochs, SGD lr 0.1, 3 seeds)
every reading whose lambda involves rho' (``"backward"``, ``"rms"``) diverged or sat at chance in most seeds,
since rho' falls with depth and lambda grows until the residual stream explodes; ``"centred"`` + ``"forward"``
trained every seed, matched SiLU and ReLU, and stayed finite at lr 0.3; per-channel statistics then gave
NSwish 44.0 +- 1.4% against Swish's 41.7 +- 0.5% (per layer: 41.6 +- 1.4%). The other readings stay selectable.

``rho``, ``rho'`` and ``mu`` are running estimates (buffers, in the state dict): in training mode each
mini-batch updates them without gradient, ``running = momentum * running + (1 - momentum) * batch`` (the
first batch sets them), and the output uses the updated values; evaluation uses them as they are. Before any
training batch they are rho = rho' = 1, mu = 0, so the module starts as its base. For speed the batch
estimates use at most ``max_statistics_elements`` elements (whole samples from the start of the batch;
``None`` = the whole batch), which the momentum averages out. ``f'`` comes from the base's
``input_gradient`` (the classic families and APALU have one) or else from autograd on a detached copy, so
any registered family works as a base (for a non-elementwise base such as layeract it is the column sum of
the Jacobian, whose off-diagonal part is O(1/M); inference mode, which turns autograd off, then skips the
update). With a parameter-free base that has ``input_gradient``, the rescaling is fused into the base's
output and gradient (custom autograd function); other bases go through autograd and one extra rescaling
pass. For the bases relu, leaky_relu, silu, hardsilu, gelu (both forms) and apalu (per layer or per channel, its
``a`` and ``b`` getting their gradients), fused kernels run where :func:`actsearch.activations.kernels.backend_for`
gives them: on the CPU (float32) C kernels compute the statistics in one pass over the sample and the output and
gradients in one pass each; on CUDA (float32, float16, bfloat16), for the same bases but apalu, Triton kernels
compute the output and gradients, one pass each way, after the statistics in PyTorch.

Switchable open points: ``moments``, ``gain``, ``per_channel`` (statistics, mu and beta per channel, dimension 1,
the default; False: per layer), ``subtract_mean``, ``learnable`` (the ``0.3 tanh(beta)`` term, beta initialised at 0) and
``momentum``. Every reading runs on the kernels (the CPU ones take the statistics in their own pass). ``base_params`` configures the base family; ``num_channels`` sizes per-channel state (and a
per-channel base) up front, otherwise it is created on the first forward call.

Example::

    import torch
    from actsearch.activations import ANAct
    act = ANAct(base="relu")
    for _ in range(3):
        act(torch.randn(64, 8, 4, 4))
    act.scale      # about sqrt(2) = 1.414
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.autograd.function import once_differentiable
from torch.nn.parameter import is_lazy

from actsearch.activations import _channels, kernels
from actsearch.activations.kernels import selfcheck
from actsearch.activations._checks import check_bool, check_channels, check_choice, check_number
from actsearch.activations.apalu import APALU
from actsearch.activations.classic import GELU, HardSiLU, LeakyReLU, ReLU, SiLU
from actsearch.activations.registry import (
    ActivationSpecError,
    activation_parameters,
    register_activation,
    resolve_activation,
)
from actsearch.activations.spec import ActivationSpec

__all__ = ["ANAct"]

_GAIN_FLOOR = 1e-4  # keeps lambda finite for a dead layer (rho' = 0) or a constant input
_VARIANCE_FLOOR = 1e-12
_RUNNING_BUFFERS = ("running_forward_gain", "running_backward_gain", "running_mean", "num_batches_tracked")
_APALU_KIND = kernels.ANACT_KINDS["apalu"]
_MOMENTS = ("centred", "raw", "mixed")
_GAINS = ("forward", "backward", "rms")


def _channel_dims(x: torch.Tensor) -> tuple[int, ...]:
    return tuple(d for d in range(x.dim()) if d != 1)


class _ScaleShift(torch.autograd.Function):
    """``scale * (activated - mean)`` in one pass, with a backward that needs no input-sized temporary for
    the per-layer scale gradient (a dot product). ``scale`` and ``mean`` broadcast against ``activated``;
    ``mean`` (a buffer) may be None and gets no gradient."""

    @staticmethod
    def forward(ctx, activated, scale, mean):
        out = activated * scale
        if mean is not None:
            out.sub_(mean * scale)  # in place: faster than one addcmul with broadcast operands on the CPU
        ctx.save_for_backward(activated if ctx.needs_input_grad[1] else None, scale, mean)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        activated, scale, mean = ctx.saved_tensors
        grad_activated = grad * scale if ctx.needs_input_grad[0] else None
        grad_scale = None
        if ctx.needs_input_grad[1]:
            if scale.numel() == 1:
                grad_scale = torch.dot(grad.reshape(-1), activated.reshape(-1))
                if mean is not None:
                    grad_scale = grad_scale - mean.reshape(()) * grad.sum()
            else:
                dims = _channel_dims(grad)
                grad_scale = (grad * activated).sum(dims, keepdim=True)
                if mean is not None:
                    grad_scale -= mean * grad.sum(dims, keepdim=True)
            grad_scale = grad_scale.reshape(scale.shape)
        return grad_activated, grad_scale, None


class _FusedANAct(torch.autograd.Function):
    """``scale * (base(x) - mean)`` written over ``base(x)`` in place, for a base with ``input_gradient``:
    one input-sized allocation per pass, like the base alone. Saves ``x`` (and the output when ``scale``
    needs a gradient, since ``f - mean = out / scale``)."""

    @staticmethod
    def forward(ctx, x, scale, mean, base):
        out = base(x)
        out.mul_(scale)
        if mean is not None:
            out.sub_(mean * scale)  # two in-place passes beat one addcmul(out=) with broadcast operands on CPU
        ctx.base = base
        ctx.save_for_backward(x, out if ctx.needs_input_grad[1] else None, scale)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, out, scale = ctx.saved_tensors
        grad_x = ctx.base.input_gradient(grad, x).mul_(scale) if ctx.needs_input_grad[0] else None
        grad_scale = None
        if ctx.needs_input_grad[1]:
            if scale.numel() == 1:
                grad_scale = torch.dot(grad.reshape(-1), out.reshape(-1)) / scale.reshape(())
            else:
                grad_scale = (grad * out).sum(_channel_dims(grad), keepdim=True) / scale
            grad_scale = grad_scale.reshape(scale.shape)
        return grad_x, grad_scale, None, None


class _ANActKernels(torch.autograd.Function):
    """``scale * (base(x) - mean)`` through a backend's kernels (:mod:`actsearch.activations.kernels`), with the
    coefficients of its ``anact_prepare`` (computed from ``beta`` and, for APALU, its ``a`` and ``b``, which get
    their gradients; None for other bases). ``per_channel`` is the kernels' layout: the gradients come per channel
    of it, and a single-element ``beta``, ``a`` or ``b`` takes their sum. Should a CUDA kernel fail in backward,
    backward differentiates the PyTorch formula with ``base`` instead."""

    @staticmethod
    def forward(ctx, x, beta, a, b, coefficients, backend, kind: int, parameter: float, per_channel: bool, base):
        ctx.backend, ctx.kind, ctx.parameter, ctx.per_channel, ctx.base = backend, kind, parameter, per_channel, base
        ctx.shapes = [None if t is None else t.shape for t in (beta, a, b)]
        ctx.save_for_backward(x, coefficients)
        return backend.anact_forward(kind, parameter, x, coefficients, per_channel)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        x, coefficients = ctx.saved_tensors
        needs = ctx.needs_input_grad
        try:
            grad_x, *per_channel = ctx.backend.anact_backward(ctx.kind, ctx.parameter, x, grad, coefficients,
                                                              ctx.per_channel, needs[0], needs[1], needs[2] or needs[3])
        except kernels.KernelUnavailable:  # warned once: differentiate the PyTorch formula (no apalu base here)
            base, scale, mean = ctx.base, coefficients[0], coefficients[2]
            grad_x, grad_scale = kernels.recomputed_gradients(lambda leaf, factor: _scaled(base, leaf, factor, mean),
                                                              (x, scale), needs[:2], grad)
            per_channel = [None if grad_scale is None else grad_scale * coefficients[3], None, None]
        parameters = [
            (value if value.numel() == shape.numel() else value.sum(0, keepdim=True)).reshape(shape) if wanted else None
            for value, shape, wanted in zip(per_channel, ctx.shapes, needs[1:4])
        ]
        return grad_x, *parameters, None, None, None, None, None, None


def _scaled(base: nn.Module, x: torch.Tensor, scale: torch.Tensor, mean: torch.Tensor | None) -> torch.Tensor:
    """``scale * (base(x) - mean)`` in PyTorch (base through autograd), ``scale`` and ``mean`` per layer or per
    channel."""
    activated = base(x)
    mean = None if mean is None else _channels.broadcast(mean, x).to(activated.dtype)
    return _ScaleShift.apply(activated, _channels.broadcast(scale, x).to(activated.dtype), mean)


def _kernel_base(base: nn.Module) -> tuple[int, float] | None:
    """``(kind, parameter)`` of a base the kernels implement (:data:`actsearch.activations.kernels.ANACT_KINDS`),
    else None."""
    kinds = {ReLU: "relu", LeakyReLU: "leaky_relu", SiLU: "silu", HardSiLU: "hardsilu", APALU: "apalu"}
    if type(base) in kinds:
        return kernels.ANACT_KINDS[kinds[type(base)]], float(getattr(base, "negative_slope", 0.0))
    if type(base) is GELU:
        return kernels.ANACT_KINDS["gelu" if base.approximate == "none" else "gelu_tanh"], 0.0
    return None


@register_activation("anact")
class ANAct(nn.modules.lazy.LazyModuleMixin, nn.Module):
    """ANAct around the registered family ``base`` (see the module docstring for the formula and options)."""

    max_statistics_elements: int | None = 65536

    def __init__(
        self,
        base: str = "silu",
        moments: str = "centred",
        gain: str = "forward",
        per_channel: bool = True,
        subtract_mean: bool = True,
        learnable: bool = True,
        momentum: float = 0.9,
        num_channels: int | None = None,
        base_params: Mapping[str, Any] | None = None,
    ):
        super().__init__()
        if resolve_activation(base)[0] == "anact":
            raise ActivationSpecError("anact: base='anact' is not allowed; allowed: any other registered family")
        if base_params is not None and not isinstance(base_params, Mapping):
            raise ActivationSpecError(
                f"anact: base_params={base_params!r} is not allowed; allowed: a mapping of {base}'s parameters"
            )
        self.moments = check_choice("anact", "moments", moments, _MOMENTS)
        self.gain = check_choice("anact", "gain", gain, _GAINS)
        self.per_channel = check_bool("anact", "per_channel", per_channel)
        self.subtract_mean = check_bool("anact", "subtract_mean", subtract_mean)
        self.learnable = check_bool("anact", "learnable", learnable)
        self.momentum = check_number("anact", "momentum", momentum, low=0.0, high=1.0, high_inclusive=False)
        self.num_channels = check_channels("anact", num_channels)
        base_kwargs = dict(base_params or {})
        if num_channels is not None and "num_channels" in activation_parameters(base):
            base_kwargs.setdefault("num_channels", num_channels)
        self.base_name, self.base_params = base, dict(base_params or {})
        self.base = ActivationSpec(base, base_kwargs).build()
        # f' for the statistics: from the base's input_gradient when it has one (every elementwise family here),
        # else from autograd, which inference mode turns off
        self._analytic_slope = callable(getattr(self.base, "input_gradient", None))
        self._fused = self._analytic_slope and not list(self.base.parameters())
        self._kernel_base = _kernel_base(self.base)

        lazy = _channels.needs_lazy_channels(self.per_channel, self.num_channels)
        count = _channels.parameter_count(self.per_channel, self.num_channels)
        self.register_buffer("running_forward_gain", _channels.new_buffer(lazy, count, 1.0))
        self.register_buffer("running_backward_gain", _channels.new_buffer(lazy, count, 1.0))
        self.register_buffer("running_mean", _channels.new_buffer(lazy, count, 0.0))
        self.register_buffer("num_batches_tracked", torch.zeros((), dtype=torch.long))
        self.register_parameter("beta", _channels.new_parameter(lazy, count, 0.0) if self.learnable else None)

    def initialize_parameters(self, x: torch.Tensor) -> None:
        if self.has_uninitialized_params():
            channels = _channels.channels_of("anact", x)
            with torch.no_grad():
                for tensor, fill in (
                    (self.running_forward_gain, 1.0),
                    (self.running_backward_gain, 1.0),
                    (self.running_mean, 0.0),
                    (self.beta, 0.0),
                ):
                    if tensor is not None:
                        tensor.materialize((channels,))
                        tensor.fill_(fill)

    @property
    def gain_scale(self) -> torch.Tensor:
        """``lambda`` from the running gains, by ``gain``."""
        rho = self.running_forward_gain.clamp(min=_GAIN_FLOOR)
        rho_prime = self.running_backward_gain.clamp(min=_GAIN_FLOOR)
        if self.gain == "forward":
            return rho.rsqrt()
        if self.gain == "backward":
            return rho_prime.rsqrt()
        return torch.sqrt((rho + rho_prime) / (2 * rho * rho_prime))

    @property
    def scale(self) -> torch.Tensor:
        """The factor applied to ``f(x) - mu``: ``lambda + 0.3 tanh(beta)`` (just lambda if not learnable)."""
        if self.beta is None:
            return self.gain_scale
        return self.gain_scale + 0.3 * torch.tanh(self.beta)

    def _sample_size(self, x: torch.Tensor) -> int:
        """How many leading samples of the batch its statistics use."""
        if self.max_statistics_elements is None:
            return x.shape[0]
        per_sample = max(1, math.prod(x.shape[1:]))
        return min(x.shape[0], max(1, self.max_statistics_elements // per_sample))

    def _statistics_sample(self, x: torch.Tensor) -> torch.Tensor:
        sample = x.detach()
        return sample[: self._sample_size(x)] if x.dim() > 0 else sample

    # The two methods below run on every call of a layer on the CPU: they read the buffers and parameters from
    # their dictionaries, since nn.Module's attribute lookup would cost more than the kernels on small tensors.
    def _kernels_take(self, backend, x: torch.Tensor) -> bool:
        if self._kernel_base is None or self._kernel_base[0] not in backend.ANACT_KINDS:
            return False
        running_mean = self._buffers["running_mean"]  # lazy (uninitialized) together with the other buffers and beta
        if x.dim() < 1 or x.numel() == 0 or is_lazy(running_mean):
            return False
        if running_mean.dtype not in backend.PARAMETER_DTYPES:
            return False
        if self.per_channel and (x.dim() < 2 or x.shape[1] != running_mean.numel()):
            return False  # the PyTorch path raises the error
        if self._kernel_base[0] == _APALU_KIND:  # its check covers ours, and its parameters not yet created
            return self._modules["base"]._kernels_take(backend, x)
        return backend.accepts(x, channels_last_ok=True)

    def _kernel_forward(self, backend, x: torch.Tensor) -> torch.Tensor:
        kind, parameter = self._kernel_base
        updates = self.training and (self._analytic_slope or not torch.is_inference_mode_enabled())
        sample_size = None
        if updates and backend.ANACT_STATISTICS:  # taken by the kernels, in the same pass as the coefficients
            sample_size = self._sample_size(x)
        elif updates:
            self._update_statistics(x)
        buffers = self._buffers
        running = tuple(buffers[name] for name in _RUNNING_BUFFERS)
        beta = self._parameters["beta"]
        per_channel, a, b, apalu = self.per_channel, None, None, None
        if kind == _APALU_KIND:  # the kernels' layout is per channel if either is
            per_channel = self.per_channel or self.base.per_channel
            a, b = self.base.a, self.base.b
            channels = x.shape[1] if per_channel else 1
            apalu = tuple(t.detach().expand(channels).contiguous() for t in (a, b))
        coefficients = backend.anact_prepare(
            kind, parameter, x, per_channel, sample_size, running, self.momentum, _VARIANCE_FLOOR,
            None if beta is None else beta.detach(), self.subtract_mean, _GAIN_FLOOR, apalu,
            pooled=per_channel and not self.per_channel, moments=kernels.ANACT_MOMENTS[self.moments],
            gain=kernels.ANACT_GAINS[self.gain],
        )
        arguments = (beta, a, b, coefficients, backend, kind, parameter, per_channel, self._modules["base"])
        if backend.trusted(("anact", x.dtype, kind, per_channel), lambda: self._check_kernels(x, arguments)):
            try:
                return _ANActKernels.apply(x, *arguments)
            except kernels.KernelUnavailable:
                pass  # warned once; the PyTorch path from now on (the statistics are already updated)
        return self._pytorch_output(x)

    def _check_kernels(self, like: torch.Tensor, arguments: tuple) -> str | None:
        """How the kernels differ from the PyTorch formula on a small input like ``like``, or None (CUDA's bases,
        without apalu: ``a`` and ``b`` are None)."""
        beta, mean = arguments[0], self.running_mean if self.subtract_mean else None
        inputs = (selfcheck.test_input(like),) if beta is None else (selfcheck.test_input(like), beta)
        with torch.inference_mode(False):  # the kernels' autograd node saves them, which an inference tensor forbids
            arguments = (*arguments[:3], arguments[3].clone(), *arguments[4:])

        def reference(x, learned=None):
            scale = self.gain_scale if learned is None else self.gain_scale + 0.3 * torch.tanh(learned)
            return _scaled(self.base, x, scale, mean)

        return selfcheck.mismatch(lambda x, learned=None: _ANActKernels.apply(x, learned, *arguments[1:]), reference,
                                  inputs)

    @torch.no_grad()
    def _update_statistics(self, x: torch.Tensor) -> None:
        sample = self._statistics_sample(x)
        if self._analytic_slope:
            value = self.base(sample)
            derivative = self.base.input_gradient(torch.ones_like(value), sample)
        elif torch.is_inference_mode_enabled():
            return  # autograd, which gives f' here, is off
        else:
            with torch.enable_grad():
                leaf = sample.requires_grad_()
                value = self.base(leaf)
                (derivative,) = torch.autograd.grad(value, leaf, torch.ones_like(value))
        batch = self._batch_estimates(sample, value, derivative)
        # the first training batch replaces the initial values instead of being averaged into them
        weight = torch.where(self.num_batches_tracked == 0, 1.0, 1.0 - self.momentum)
        running = (self.running_forward_gain, self.running_backward_gain, self.running_mean)
        for buffer, estimate in zip(running, batch):
            buffer.lerp_(estimate.to(buffer.dtype).reshape(buffer.shape), weight.to(buffer.dtype))
        self.num_batches_tracked.add_(1)

    def _batch_estimates(self, sample, value, derivative):
        """``(rho, rho', E[f])`` of the batch, per channel or per layer; rho by ``moments``: ``Var(f) / Var(x)``
        (centred), ``E[f^2] / E[x^2]`` (raw), ``E[f^2] / Var(x)`` (mixed)."""
        sample, value, derivative = sample.detach().float(), value.detach().float(), derivative.float()
        # two passes in float64: torch.var_mean is several times slower on the CPU, and one pass cancels
        wide, wide_value = sample.double(), value.double()
        dims = _channel_dims(sample) if self.per_channel else tuple(range(sample.dim()))
        mean_x, mean_value = wide.mean(dims, keepdim=True), wide_value.mean(dims, keepdim=True)
        if self.moments == "raw":
            denominator, numerator = wide.square().mean(dims), wide_value.square().mean(dims)
        else:
            denominator = (wide - mean_x).square_().mean(dims)
            centre = mean_value if self.moments == "centred" else 0.0
            numerator = (wide_value - centre).square_().mean(dims)
        forward_gain = numerator / denominator.clamp(min=_VARIANCE_FLOOR)
        return forward_gain.float(), derivative.square().mean(dims), mean_value.reshape(numerator.shape).float()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        backend = kernels.backend_for(x)
        if backend is not None and self._kernels_take(backend, x):
            return self._kernel_forward(backend, x)
        if self.training:
            self._update_statistics(x)
        return self._pytorch_output(x)

    def _pytorch_output(self, x: torch.Tensor) -> torch.Tensor:
        if self._fused:
            scale = _channels.broadcast(self.scale, x).to(x.dtype)
            mean = _channels.broadcast(self.running_mean, x).to(x.dtype) if self.subtract_mean else None
            return _FusedANAct.apply(x, scale, mean, self.base)
        return _scaled(self.base, x, self.scale, self.running_mean if self.subtract_mean else None)

    def extra_repr(self) -> str:
        return (
            f"base={self.base_name!r}, moments={self.moments!r}, gain={self.gain!r}, per_channel={self.per_channel}, "
            f"subtract_mean={self.subtract_mean}, "
            f"learnable={self.learnable}, momentum={self.momentum}, num_channels={self.num_channels}"
            + (f", base_params={self.base_params}" if self.base_params else "")
        )
