"""Blur corruptions: gaussian_blur, defocus_blur, glass_blur, motion_blur, zoom_blur.

    >>> import torch
    >>> from actsearch.trainers.corruptions import corrupt
    >>> flat = torch.full((2, 3, 32, 32), 0.3)
    >>> torch.allclose(corrupt(flat, "defocus_blur", 5), flat, atol=1e-5)
    True
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F

from actsearch.trainers.corruptions.ops import (
    apply_separable,
    filter_matrix,
    gather_pixels,
    gaussian_filter,
    pixel_scale,
    round_half_up,
    zoom_matrix,
)
from actsearch.trainers.corruptions.registry import register

__all__ = ["defocus_blur", "gaussian_blur", "glass_blur", "motion_blur", "motion_streaks", "zoom_blur"]


@register("gaussian_blur")
def gaussian_blur(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Gaussian blur, sigma = 0.4, 0.6, 0.7, 0.8, 1.0 pixels at 32x32 (scaled with the image size)."""
    sigma = (0.4, 0.6, 0.7, 0.8, 1.0)[severity - 1]
    return gaussian_filter(x, sigma * pixel_scale(x))


@functools.lru_cache(maxsize=64)
def _defocus_matrices(height: int, width: int, radius: float, alias_blur: float, scale: float):
    """The original's anti-aliased disk as (rows, cols) matrix pairs, one pair per separable component.

    At 32x32 the kernel is exactly the original's (a disk on the integer grid, then cv2.GaussianBlur 3x3
    with sigma ``alias_blur``). For other sizes it is resampled from the 32x32 kernel with a tent filter
    (area-weighted when shrinking), so a radius below one pixel still blurs instead of collapsing to the
    identity. The kernel is split by SVD into rank-one (separable) parts (at most three for these
    constants), each applied as two matrix products with cv2's BORDER_REFLECT_101.
    """
    offsets = torch.arange(-8, 9, dtype=torch.float64)
    grid_y, grid_x = torch.meshgrid(offsets, offsets, indexing="ij")
    disk = (grid_x**2 + grid_y**2 <= radius**2).double()
    disk = disk / disk.sum()
    taps = torch.exp(-torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64) / (2 * alias_blur**2))
    taps = taps / taps.sum()
    disk = F.conv2d(disk.view(1, 1, 17, 17), taps.view(1, 1, 1, 3), padding=(0, 1))
    disk = F.conv2d(disk, taps.view(1, 1, 3, 1), padding=(1, 0))[0, 0]
    target_radius = math.ceil(9 * scale)
    target = torch.arange(-target_radius, target_radius + 1, dtype=torch.float64)
    resample = (1 - ((offsets[None, :] * scale - target[:, None]) / max(1.0, scale)).abs()).clamp_min(0.0)
    kernel = resample @ disk @ resample.T
    kernel = kernel / kernel.sum()
    left, singular, right = torch.linalg.svd(kernel)
    return tuple(
        (
            filter_matrix(height, left[:, k] * singular[k], "reflect"),
            filter_matrix(width, right[k], "reflect"),
        )
        for k in range(len(singular))
        if singular[k] > 1e-9 * singular[0]
    )


@register("defocus_blur")
def defocus_blur(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Disk kernel, (radius, alias_blur) = (0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)."""
    radius, alias_blur = ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1.0, 0.2), (1.5, 0.1))[severity - 1]
    matrices = _defocus_matrices(x.shape[-2], x.shape[-1], radius, alias_blur, pixel_scale(x))
    return sum(apply_separable(x, rows, cols) for rows, cols in matrices)


@register("glass_blur")
def glass_blur(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Blur, locally shuffle pixels, blur: (sigma, max_delta, iterations) = (0.05, 1, 1), (0.25, 1, 1),
    (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2).

    The original sweeps the pixels from the bottom-right corner to the top-left and "swaps" each with a
    neighbour at offsets ``randint(-max_delta, max_delta)`` (so -1 or 0) per axis. The swap assigns
    through numpy views, so it only copies the neighbour into the pixel; and as the sweep runs towards
    the top-left, that neighbour is still untouched. One sweep is therefore exactly a gather with
    independent random offsets, which is what this does for the whole batch at once (all channels of a
    pixel move together; the two first rows and columns stay, as in the original's loop bounds). It is
    exact in distribution for max_delta = 1, the CIFAR value; when scaling to a large image gives a larger
    max_delta, the original's positive offsets would read already moved pixels, which this ignores. As
    in the original, the first blur is truncated to 8 bits (``np.uint8``) before the shuffle.
    """
    sigma, max_delta, iterations = ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2))[severity - 1]
    scale = pixel_scale(x)
    sigma *= scale
    delta = max(1, round_half_up(max_delta * scale))
    x = torch.floor(gaussian_filter(x, sigma).clamp(0.0, 1.0) * 255) / 255
    n, _, h, w = x.shape
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    swept = (rows > delta) & (rows <= h - delta) & (cols > delta) & (cols <= w - delta)
    for _ in range(iterations):
        dy = torch.randint(-delta, delta, (n, h, w), generator=generator, device=x.device) * swept
        dx = torch.randint(-delta, delta, (n, h, w), generator=generator, device=x.device) * swept
        x = gather_pixels(x, (rows + dy).clamp(0, h - 1), (cols + dx).clamp(0, w - 1))
    return gaussian_filter(x, sigma)


@register("motion_blur")
def motion_blur(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Motion blur along a random angle in [-45, 45] degrees per image, (radius, sigma) = (6, 1), (6, 1.5),
    (6, 2), (8, 2), (9, 2.5) at 32x32 (scaled with the image size); see :func:`motion_streaks`. The result is
    truncated to 8 bits, as the original's ImageMagick output is."""
    radius, sigma = ((6, 1.0), (6, 1.5), (6, 2.0), (8, 2.0), (9, 2.5))[severity - 1]
    scale = pixel_scale(x)
    angles = torch.rand(len(x), generator=generator, dtype=torch.float64, device=x.device) * 90 - 45
    blurred = motion_streaks(x, max(1, round_half_up(radius * scale)), sigma * scale, angles)
    return torch.floor(blurred.clamp(0.0, 1.0) * 255 + 1e-3) / 255


def motion_streaks(x: torch.Tensor, radius: int, sigma: float, angles: torch.Tensor) -> torch.Tensor:
    """ImageMagick's motion blur (MagickMotionBlurImage) as imagenet_c's numpy version does it, one angle
    (degrees) per image; on CIFAR images it matches ImageMagick 6.9 to its 8-bit truncation.

    ``2 * radius + 1`` taps on a one-sided ray, weights exp(-i^2 / (2 sigma^2)) normalized, each tap an
    integer shift with edge replication; taps that leave the image are dropped (the original stops there).
    The taps are gathered for the whole batch at once.
    """
    width = 2 * radius + 1
    weights = torch.exp(-torch.arange(width, dtype=torch.float64) ** 2 / (2 * sigma**2))
    weights = (weights / weights.sum()).tolist()
    n, _, h, w = x.shape
    angle = torch.deg2rad(angles.to(device=x.device, dtype=torch.float64))
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    out = torch.zeros_like(x)
    for tap, weight in enumerate(weights):
        dy = -torch.ceil(tap * torch.sin(angle) - 0.5).long().view(n, 1, 1)
        dx = -torch.ceil(tap * torch.cos(angle) - 0.5).long().view(n, 1, 1)
        inside = ((dy.abs() < h) & (dx.abs() < w)).to(x.dtype).view(n, 1, 1, 1)
        shifted = gather_pixels(x, (rows - dy).clamp(0, h - 1), (cols - dx).clamp(0, w - 1))
        out.addcmul_(shifted, inside * weight)
    return out


@functools.lru_cache(maxsize=None)
def _zoom_matrices(height: int, width: int, count: int) -> tuple[tuple[torch.Tensor, torch.Tensor], ...]:
    step = (1 + 0.01) - 1  # np.arange's own step: the zooms match the original to the last bit
    zooms = [1 + i * step for i in range(count)]
    return tuple((zoom_matrix(height, z), zoom_matrix(width, z)) for z in zooms)


@functools.lru_cache(maxsize=16)
def _zoom_operator(height: int, width: int, count: int) -> torch.Tensor:
    """The whole zoom blur as one (H*W, H*W) matrix, for small images: a single large matrix product is
    several times faster than ``count`` pairs of small ones."""
    rows, cols = (torch.stack(matrices) for matrices in zip(*_zoom_matrices(height, width, count)))
    zooms = torch.einsum("zik,zjl->ijkl", rows, cols).reshape(height * width, height * width)
    return ((zooms + torch.eye(height * width, dtype=torch.float64)) / (count + 1)).float()


_DENSE_ZOOM_PIXELS = 32 * 32


@register("zoom_blur")
def zoom_blur(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Average of the image and its centre zooms by 1, 1.01, ... up to 1.06, 1.11, 1.15, 1.20, 1.25.

    The counts (7, 12, 16, 21, 26 zooms) are what the original's ``np.arange(1, 1.06, 0.01)`` etc. produce.
    Each zoom is a pair of interpolation matrices reproducing scipy's order-1 zoom.
    """
    count = (7, 12, 16, 21, 26)[severity - 1]
    n, c, h, w = x.shape
    if h * w <= _DENSE_ZOOM_PIXELS:
        return (x.reshape(n, c, h * w) @ _zoom_operator(h, w, count).to(x).T).view(n, c, h, w)
    out = x.clone()
    for rows, cols in _zoom_matrices(h, w, count):
        out = out + apply_separable(x, rows, cols)
    return out / (count + 1)

