"""Memory layouts the kernels read: a tensor whose samples are dense blocks, in contiguous or channels-last order.

Example::

    import torch
    from actsearch.activations.kernels.tensors import is_channels_last, same_layout
    x = torch.randn(2, 3, 4, 4).contiguous(memory_format=torch.channels_last)
    assert is_channels_last(x) and same_layout(torch.ones(2, 3, 4, 4), x).stride() == x.stride()
"""

from __future__ import annotations

import torch

__all__ = ["is_channels_last", "same_layout"]


def is_channels_last(x: torch.Tensor) -> bool:
    return x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last)


def same_layout(grad: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``grad`` laid out in memory as ``x`` is (the kernels index both alike)."""
    if grad.stride() == x.stride():
        return grad
    return grad.contiguous(memory_format=torch.channels_last if is_channels_last(x) else torch.contiguous_format)
