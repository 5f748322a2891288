"""Weather corruptions: fog and brightness (snow and frost have their own modules).

    >>> import torch
    >>> from actsearch.trainers.corruptions import corrupt
    >>> images = torch.rand(2, 3, 32, 32)
    >>> torch.equal(corrupt(images, "fog", 3, seed=1), corrupt(images, "fog", 3, seed=1))
    True
"""

from __future__ import annotations

import math

import torch

from actsearch.trainers.corruptions.ops import hsv_to_rgb, rgb_to_hsv
from actsearch.trainers.corruptions.registry import register

__all__ = ["brightness", "fog", "plasma_fractal"]


def plasma_fractal(count: int, mapsize: int, wibbledecay: float, generator: torch.Generator, device) -> torch.Tensor:
    """The original's diamond-square plasma fractal, one map per image, normalized to [0, 1]."""
    maps = torch.zeros(count, mapsize, mapsize, dtype=torch.float64, device=device)
    step, wibble = mapsize, 100.0

    def wibbled_mean(total: torch.Tensor) -> torch.Tensor:
        noise = torch.rand(total.shape, generator=generator, dtype=torch.float64, device=device)
        return total / 4 + wibble * (noise * 2 * wibble - wibble)

    while step >= 2:
        half = step // 2
        corners = maps[:, 0::step, 0::step]
        squares = corners + corners.roll(-1, 1)
        squares = squares + squares.roll(-1, 2)
        maps[:, half::step, half::step] = wibbled_mean(squares)
        centres = maps[:, half::step, half::step]
        left_diamonds = centres + centres.roll(1, 1) + corners + corners.roll(-1, 2)
        maps[:, 0::step, half::step] = wibbled_mean(left_diamonds)
        top_diamonds = centres + centres.roll(1, 2) + corners + corners.roll(-1, 1)
        maps[:, half::step, 0::step] = wibbled_mean(top_diamonds)
        step //= 2
        wibble /= wibbledecay
    maps = maps - maps.amin((1, 2), keepdim=True)
    return maps / maps.amax((1, 2), keepdim=True).clamp_min(1e-12)


@register("fog")
def fog(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Add c0 * plasma fractal, rescale by max / (max + c0); (c0, wibbledecay) = (0.2, 3), (0.5, 3),
    (0.75, 2.5), (1, 2), (1.5, 1.75). The fractal map is the next power of two of the image size, cropped."""
    strength, wibbledecay = ((0.2, 3.0), (0.5, 3.0), (0.75, 2.5), (1.0, 2.0), (1.5, 1.75))[severity - 1]
    n, _, h, w = x.shape
    mapsize = 1 << max(1, math.ceil(math.log2(max(h, w))))
    plasma = plasma_fractal(n, mapsize, wibbledecay, generator, x.device)[:, None, :h, :w].to(x.dtype)
    peak = x.amax((1, 2, 3), keepdim=True)
    return (x + strength * plasma) * peak / (peak + strength)


@register("brightness")
def brightness(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """HSV value + c, c = 0.05, 0.1, 0.15, 0.2, 0.3 (gray images: the gray value + c)."""
    shift = (0.05, 0.1, 0.15, 0.2, 0.3)[severity - 1]
    if x.shape[1] == 1:
        return x + shift
    hsv = rgb_to_hsv(x)
    hsv = torch.cat((hsv[:, :2], (hsv[:, 2:] + shift).clamp(0.0, 1.0)), dim=1)
    return hsv_to_rgb(hsv)

