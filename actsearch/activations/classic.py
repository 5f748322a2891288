"""The classic baselines: relu, leaky_relu, prelu, elu, selu, silu, hardsilu, gelu, mish.

They are torch's own modules under registered lowercase names, with the baseline settings of the LayerAct
study as defaults (LeakyReLU slope 0.01; PReLU one shared parameter, init 0.25; exact erf GELU; HardSiLU is
``nn.Hardswish``). They never work in place, so one instance can safely serve several call sites.

The parameter-free elementwise ones also define ``input_gradient(grad, x)``, the vector-Jacobian product
``grad * f'(x)`` computed from the input with torch's own backward kernel; ANAct uses it to fuse its
rescaling into the base activation (any family may define it with that meaning).

Example::

    from actsearch.activations import create_activation
    gelu = create_activation("gelu", approximate="tanh")
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from actsearch.activations import _channels
from actsearch.activations._checks import check_bool, check_channels, check_choice, check_number
from actsearch.activations.registry import register_activation

__all__ = ["ELU", "GELU", "HardSiLU", "LeakyReLU", "Mish", "PReLU", "ReLU", "SELU", "SiLU"]

_aten = torch.ops.aten


@register_activation("relu")
class ReLU(nn.ReLU):
    """``max(x, 0)``."""

    def __init__(self):
        super().__init__()

    def input_gradient(self, grad: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return _aten.threshold_backward(grad, x, 0)


@register_activation("leaky_relu")
class LeakyReLU(nn.LeakyReLU):
    """``x`` for x >= 0, ``negative_slope * x`` below."""

    def __init__(self, negative_slope: float = 0.01):
        super().__init__(check_number("leaky_relu", "negative_slope", negative_slope))

    def input_gradient(self, grad: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return _aten.leaky_relu_backward(grad, x, self.negative_slope, False)


@register_activation("prelu")
class PReLU(nn.modules.lazy.LazyModuleMixin, nn.Module):
    """LeakyReLU with a learned slope ``weight``: one shared slope, or one per channel (dimension 1).

    Per channel without ``num_channels``, the slopes are created on the first forward call (see ``_channels``).
    """

    def __init__(self, per_channel: bool = False, num_channels: int | None = None, init: float = 0.25):
        super().__init__()
        self.per_channel = check_bool("prelu", "per_channel", per_channel)
        self.num_channels = check_channels("prelu", num_channels)
        self.init = check_number("prelu", "init", init)
        lazy = _channels.needs_lazy_channels(self.per_channel, self.num_channels)
        self.weight = _channels.new_parameter(
            lazy, _channels.parameter_count(self.per_channel, self.num_channels), self.init
        )

    def initialize_parameters(self, x: torch.Tensor) -> None:
        if self.has_uninitialized_params():
            with torch.no_grad():
                self.weight.materialize((_channels.channels_of("prelu", x),))
                self.weight.fill_(self.init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.prelu(x, self.weight.to(x.dtype))  # F.prelu takes no mixed dtypes

    def input_gradient(self, grad: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``grad * f'(x)`` for the current slopes, outside autograd."""
        with torch.no_grad():
            return torch.where(x > 0, grad, grad * _channels.broadcast(self.weight, x).to(x.dtype))

    def extra_repr(self) -> str:
        return f"per_channel={self.per_channel}, num_channels={self.num_channels}, init={self.init}"


@register_activation("elu")
class ELU(nn.ELU):
    """``x`` for x > 0, ``alpha * (exp(x) - 1)`` below."""

    def __init__(self, alpha: float = 1.0):
        super().__init__(check_number("elu", "alpha", alpha, low=0.0, low_inclusive=False))

    def input_gradient(self, grad: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return _aten.elu_backward(grad, self.alpha, 1.0, 1.0, False, x)


@register_activation("selu")
class SELU(nn.SELU):
    """Scaled ELU with the self-normalising constants of Klambauer et al."""

    alpha = 1.6732632423543772848170429916717
    scale = 1.0507009873554804934193349852946

    def __init__(self):
        super().__init__()

    def input_gradient(self, grad: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return _aten.elu_backward(grad, self.alpha, self.scale, 1.0, False, x)


@register_activation("silu")
class SiLU(nn.SiLU):
    """``x * sigmoid(x)`` (Swish-1)."""

    def __init__(self):
        super().__init__()

    def input_gradient(self, grad: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return _aten.silu_backward(grad, x)


@register_activation("hardsilu")
class HardSiLU(nn.Hardswish):
    """``x * hardsigmoid(x)`` (HardSwish)."""

    def __init__(self):
        super().__init__()

    def input_gradient(self, grad: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return _aten.hardswish_backward(grad, x)


@register_activation("gelu")
class GELU(nn.GELU):
    """``x * Phi(x)``: exact (erf) with ``approximate="none"``, or the tanh approximation."""

    def __init__(self, approximate: str = "none"):
        super().__init__(approximate=check_choice("gelu", "approximate", approximate, ("none", "tanh")))

    def input_gradient(self, grad: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return _aten.gelu_backward(grad, x, approximate=self.approximate)


@register_activation("mish")
class Mish(nn.Mish):
    """``x * tanh(softplus(x))``."""

    def __init__(self):
        super().__init__()

    def input_gradient(self, grad: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return _aten.mish_backward(grad, x)
