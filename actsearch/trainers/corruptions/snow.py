"""The snow corruption: a zoomed, thresholded noise layer streaked by motion blur, over a whitened image.

    >>> import torch
    >>> from actsearch.trainers.corruptions import corrupt
    >>> images = torch.full((4, 3, 32, 32), 0.2)
    >>> bool(corrupt(images, "snow", 5).mean() > 0.2)  # snow brightens
    True
"""

from __future__ import annotations

import functools

import torch

from actsearch.trainers.corruptions.blur import motion_streaks
from actsearch.trainers.corruptions.ops import pixel_scale, round_half_up, to_gray, zoom_matrix
from actsearch.trainers.corruptions.registry import register

__all__ = ["snow"]

# (loc, scale, zoom, threshold, streak radius, streak sigma, blend), make_cifar_c.py's constants
_SNOW = (
    (0.1, 0.2, 1.0, 0.6, 8, 3.0, 0.95),
    (0.1, 0.2, 1.0, 0.5, 10, 4.0, 0.9),
    (0.15, 0.3, 1.75, 0.55, 10, 4.0, 0.9),
    (0.25, 0.3, 2.25, 0.6, 12, 6.0, 0.85),
    (0.3, 0.3, 1.25, 0.65, 14, 12.0, 0.8),
)


@functools.lru_cache(maxsize=32)
def _zoom(height: int, width: int, zoom: float) -> tuple[torch.Tensor, torch.Tensor]:
    return zoom_matrix(height, zoom), zoom_matrix(width, zoom)


@register("snow")
def snow(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """make_cifar_c.py's snow, per image: a N(loc, scale) layer, centre-zoomed (scipy order-1 clipped zoom),
    zeroed below ``threshold``, cut to 8 bits, streaked by a motion blur at a random angle in [-135, -45]
    degrees (:func:`~actsearch.trainers.corruptions.blur.motion_streaks`, which matches the original's Wand
    call, truncated to 8 bits as ImageMagick's PNG output is); the image becomes
    ``blend * x + (1 - blend) * max(x, 1.5 * gray + 0.5)`` and gets the layer plus the layer turned by 180
    degrees. Streak radius and sigma are in pixels of a 32x32 image (scaled with the size).
    """
    loc, scale, zoom, threshold, radius, sigma, blend = _SNOW[severity - 1]
    n, _, h, w = x.shape
    layer = torch.randn((n, 1, h, w), generator=generator, dtype=torch.float64, device=x.device) * scale + loc
    rows, cols = _zoom(h, w, zoom)
    layer = rows.to(layer) @ layer @ cols.to(layer).T
    layer = torch.where(layer < threshold, 0.0, layer)
    layer = torch.floor(layer.clamp(0.0, 1.0) * 255) / 255
    angles = torch.rand(n, generator=generator, dtype=torch.float64, device=x.device) * 90 - 135
    size = pixel_scale(x)
    layer = motion_streaks(layer, max(1, round_half_up(radius * size)), sigma * size, angles)
    layer = (torch.floor(layer * 255 + 1e-3) / 255).to(x.dtype)
    x = blend * x + (1 - blend) * torch.maximum(x, to_gray(x) * 1.5 + 0.5)
    return x + layer + layer.flip(-2, -1)
