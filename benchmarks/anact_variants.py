"""Pure-PyTorch prototypes of ANAct and APALU readings, registered as ``anact_variant`` and ``apalu_variant``.

Used by ``benchmarks/family_ablation.py`` to measure readings the package does not implement yet; the
package's own ``anact`` and ``apalu`` are the reference rows. Both accept ``num_channels``, which
``apply_activations`` passes when it builds a network; without it per-channel state is created on the first
forward call, as in the package's families.

``anact_variant`` for a base ``f`` in {relu, silu} and the layer input ``x`` (per layer, or per channel over
every dimension but 1):

- ``moments="raw"``: ``rho = E[f(x)^2] / E[x^2]``; ``"centred"``: ``rho = Var(f(x)) / Var(x)``;
  ``"mixed"``: ``E[f(x)^2] / Var(x)`` (the package's reading). ``rho' = E[f'(x)^2]`` in all three: a
  backpropagated gradient has zero mean, so its raw and centred gains coincide;
- ``gain="forward"``: ``lambda = 1/sqrt(rho)``; ``"backward"``: ``1/sqrt(rho')``; ``"rms"``: the root mean
  square of the two, ``sqrt((rho + rho') / (2 rho rho'))``;
- ``statistics="running"``: the training forward uses the running estimates just updated with the batch
  (momentum 0.9, the first batch replaces the initial values); ``"batch"``: it uses the batch's own
  statistics, as BatchNorm does, and the running estimates serve evaluation. Statistics carry no gradient;
- output ``(lambda + 0.3 tanh(beta)) * (f(x) - mu)``, ``mu`` the mean of ``f(x)`` when ``subtract_mean``,
  the ``0.3 tanh(beta)`` term only when ``learnable``.

``apalu_variant``: APALU with initial ``a`` and ``b`` and positivity by ``softplus`` (``a = softplus(a_raw)``)
or ``clamp`` (``a = max(a_raw, 0.01)``, ``a_raw`` initialised at ``a``).

Example::

    import torch
    import anact_variants  # noqa: F401  (registers the families)
    from actsearch.activations import create_activation
    act = create_activation("anact_variant", base="relu", moments="centred", gain="forward")
    act(torch.randn(64, 8, 4, 4)).var()   # about 1
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from actsearch.activations import ActivationSpecError, _channels, register_activation

__all__ = ["ANActVariant", "APALUVariant"]

_FLOOR = 1e-4
_APALU_K = 1.702
_CLAMP_FLOOR = 0.01


def _base_and_slope(name: str, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if name == "relu":
        return F.relu(x), (x > 0).to(x.dtype)
    if name == "silu":
        gate = torch.sigmoid(x)
        return x * gate, gate * (1 + x * (1 - gate))
    raise ActivationSpecError(f"anact_variant: base={name!r} is not allowed; allowed: relu, silu")


def _per_channel_view(values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    if values.numel() == 1:
        return values.reshape(())
    shape = [1] * x.dim()
    shape[1] = values.numel()
    return values.view(shape)


class _LazyChannels(nn.modules.lazy.LazyModuleMixin, nn.Module):
    """Per-channel parameters and buffers (filled with ``_fills``) sized on the first forward call when
    ``num_channels`` was not given."""

    _fills: dict[str, float] = {}

    def initialize_parameters(self, x: torch.Tensor) -> None:
        if self.has_uninitialized_params():
            with torch.no_grad():
                for name, fill in self._fills.items():
                    tensor = getattr(self, name)
                    if tensor is not None:
                        tensor.materialize((x.shape[1],))
                        tensor.fill_(fill)


@register_activation("anact_variant")
class ANActVariant(_LazyChannels):
    """One reading of ANAct (see the module docstring for the options)."""

    def __init__(self, base: str = "silu", moments: str = "centred", gain: str = "rms", statistics: str = "running",
                 subtract_mean: bool = True, learnable: bool = True, per_channel: bool = False,
                 momentum: float = 0.9, num_channels: int | None = None):
        super().__init__()
        for option, value, allowed in (("moments", moments, ("raw", "centred", "mixed")),
                                       ("gain", gain, ("forward", "backward", "rms")),
                                       ("statistics", statistics, ("running", "batch")),
                                       ("base", base, ("relu", "silu"))):
            if value not in allowed:
                raise ActivationSpecError(f"anact_variant: {option}={value!r} is not allowed; allowed: {', '.join(allowed)}")
        self.base, self.moments, self.gain, self.statistics = base, moments, gain, statistics
        self.subtract_mean, self.learnable, self.per_channel, self.momentum = (
            subtract_mean, learnable, per_channel, momentum)
        lazy = _channels.needs_lazy_channels(per_channel, num_channels)
        count = _channels.parameter_count(per_channel, num_channels)
        self._fills = {"running_forward_gain": 1.0, "running_backward_gain": 1.0, "running_mean": 0.0, "beta": 0.0}
        for name in ("running_forward_gain", "running_backward_gain", "running_mean"):
            self.register_buffer(name, _channels.new_buffer(lazy, count, self._fills[name]))
        self.register_buffer("num_batches_tracked", torch.zeros((), dtype=torch.long))
        self.beta = _channels.new_parameter(lazy, count, 0.0) if learnable else None

    def _batch_statistics(self, x: torch.Tensor, value: torch.Tensor, slope: torch.Tensor):
        dims = tuple(d for d in range(x.dim()) if d != 1) if self.per_channel else tuple(range(x.dim()))
        x, value, slope = x.detach().double(), value.detach().double(), slope.detach().double()
        mean_value = value.mean(dims)
        if self.moments == "raw":
            forward_gain = value.square().mean(dims) / x.square().mean(dims).clamp(min=1e-12)
        else:
            variance_x = (x - x.mean(dims, keepdim=True)).square().mean(dims).clamp(min=1e-12)
            second = value.square().mean(dims)
            numerator = second - mean_value.square() if self.moments == "centred" else second
            forward_gain = numerator / variance_x
        backward_gain = slope.square().mean(dims)
        return [t.reshape(-1).float() for t in (forward_gain, backward_gain, mean_value)]

    def _scale(self, forward_gain: torch.Tensor, backward_gain: torch.Tensor) -> torch.Tensor:
        rho, rho_prime = forward_gain.clamp(min=_FLOOR), backward_gain.clamp(min=_FLOOR)
        if self.gain == "forward":
            scale = rho.rsqrt()
        elif self.gain == "backward":
            scale = rho_prime.rsqrt()
        else:
            scale = torch.sqrt((rho + rho_prime) / (2 * rho * rho_prime))
        return scale + 0.3 * torch.tanh(self.beta) if self.learnable else scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value, slope = _base_and_slope(self.base, x)
        running = (self.running_forward_gain, self.running_backward_gain, self.running_mean)
        if self.training:
            batch = self._batch_statistics(x, value, slope)
            weight = 1.0 if self.num_batches_tracked.item() == 0 else 1.0 - self.momentum
            with torch.no_grad():
                for buffer, estimate in zip(running, batch):
                    buffer.lerp_(estimate.expand_as(buffer), weight)
            self.num_batches_tracked.add_(1)
            statistics = batch if self.statistics == "batch" else running
        else:
            statistics = running
        forward_gain, backward_gain, mean = statistics
        out = value - _per_channel_view(mean, x).to(x.dtype) if self.subtract_mean else value
        return out * _per_channel_view(self._scale(forward_gain, backward_gain), x).to(x.dtype)

    def extra_repr(self) -> str:
        return (f"base={self.base!r}, moments={self.moments!r}, gain={self.gain!r}, statistics={self.statistics!r}, "
                f"subtract_mean={self.subtract_mean}, learnable={self.learnable}, per_channel={self.per_channel}")


@register_activation("apalu_variant")
class APALUVariant(_LazyChannels):
    """APALU with a chosen initialisation and positivity mechanism, per layer or per channel."""

    def __init__(self, a: float = 1.0, b: float = 1.0, positivity: str = "softplus", per_channel: bool = False,
                 num_channels: int | None = None):
        super().__init__()
        if positivity not in ("softplus", "clamp"):
            raise ActivationSpecError(f"apalu_variant: positivity={positivity!r} is not allowed; allowed: softplus, clamp")
        self.positivity, self.per_channel = positivity, per_channel
        lazy = _channels.needs_lazy_channels(per_channel, num_channels)
        count = _channels.parameter_count(per_channel, num_channels)
        self._fills = {name: math.log(math.expm1(value)) if positivity == "softplus" else value
                       for name, value in (("a_raw", a), ("b_raw", b))}
        self.a_raw = _channels.new_parameter(lazy, count, self._fills["a_raw"])
        self.b_raw = _channels.new_parameter(lazy, count, self._fills["b_raw"])

    def _positive(self, raw: torch.Tensor) -> torch.Tensor:
        return F.softplus(raw) if self.positivity == "softplus" else raw.clamp(min=_CLAMP_FLOOR)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = _per_channel_view(self._positive(self.a_raw), x).to(x.dtype)
        b = _per_channel_view(self._positive(self.b_raw), x).to(x.dtype)
        positive = x.clamp(min=0)
        negative = x.clamp(max=0)
        return a * (positive + positive * torch.sigmoid(_APALU_K * positive)) + b * torch.expm1(negative)

    def extra_repr(self) -> str:
        return f"positivity={self.positivity!r}, per_channel={self.per_channel}"
