"""Per-layer or per-channel parameters of an activation, with lazy channel inference as a fallback.

Channels are dimension 1 of the input (``(N, C, ...)`` and ``(N, F)``), as for ``nn.PReLU`` and BatchNorm.
A per-channel module built without ``num_channels`` holds ``UninitializedParameter``/``UninitializedBuffer``
placeholders that torch's lazy-module machinery materialises on the first forward call, or when a state dict
is loaded; run one forward pass (or load a checkpoint) before creating the optimizer, as with ``nn.LazyLinear``.
``apply_activations`` passes ``num_channels`` whenever it can infer it, so this is rarely needed.
"""

from __future__ import annotations

import torch
from torch import nn

from actsearch.activations.registry import ActivationSpecError


def needs_lazy_channels(per_channel: bool, num_channels: int | None) -> bool:
    return per_channel and num_channels is None


def parameter_count(per_channel: bool, num_channels: int | None) -> int:
    return num_channels if per_channel else 1


def channels_of(family: str, x: torch.Tensor) -> int:
    if x.dim() < 2:
        raise ActivationSpecError(
            f"{family}: per_channel=True needs inputs of shape (N, C, ...); got shape {tuple(x.shape)}"
        )
    return x.shape[1]


def broadcast(values: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """View per-channel ``values`` of shape (C,) so they broadcast against ``x`` along dimension 1."""
    if values.numel() == 1:
        return values.reshape(())
    shape = [1] * x.dim()
    shape[1] = values.numel()
    return values.view(shape)


def new_parameter(lazy: bool, count: int, fill: float) -> nn.Parameter:
    if lazy:
        return nn.parameter.UninitializedParameter()
    return nn.Parameter(torch.full((count,), fill))


def new_buffer(lazy: bool, count: int, fill: float) -> torch.Tensor:
    if lazy:
        return nn.parameter.UninitializedBuffer()
    return torch.full((count,), fill)
