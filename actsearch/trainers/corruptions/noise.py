"""Noise corruptions: gaussian_noise, shot_noise, impulse_noise, speckle_noise.

    >>> import torch
    >>> from actsearch.trainers.corruptions import corrupt
    >>> corrupt(torch.full((1, 3, 8, 8), 0.5), "gaussian_noise", 5).std().item() > 0.05
    True
"""

from __future__ import annotations

import torch

from actsearch.trainers.corruptions.registry import register

__all__ = ["gaussian_noise", "impulse_noise", "shot_noise", "speckle_noise"]


@register("gaussian_noise")
def gaussian_noise(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """x + N(0, c), c = 0.04, 0.06, 0.08, 0.09, 0.10."""
    scale = (0.04, 0.06, 0.08, 0.09, 0.10)[severity - 1]
    return x + scale * torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)


@register("shot_noise")
def shot_noise(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Poisson(x * c) / c, c = 500, 250, 100, 75, 50 (smaller c, more noise)."""
    photons = (500, 250, 100, 75, 50)[severity - 1]
    return torch.poisson(x.clamp(0.0, 1.0) * photons, generator=generator) / photons


@register("impulse_noise")
def impulse_noise(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Salt and pepper on a fraction c of the values (each channel apart, as skimage's random_noise)."""
    amount = (0.01, 0.02, 0.03, 0.05, 0.07)[severity - 1]
    hit = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device) < amount
    salt = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device) < 0.5
    return torch.where(hit, salt.to(x.dtype), x)


@register("speckle_noise")
def speckle_noise(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """x + x * N(0, c), c = 0.06, 0.10, 0.12, 0.16, 0.20."""
    scale = (0.06, 0.10, 0.12, 0.16, 0.20)[severity - 1]
    return x + x * scale * torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)

