"""Batched building blocks of the corruptions: separable filters as matrices, gathers, sampling, HSV, zoom.

Filters are applied as ``rows @ images @ cols.T``: two small matrix products over the whole batch, much
faster than convolutions of N * C one-channel planes.

    >>> import torch
    >>> from actsearch.trainers.corruptions.ops import gaussian_filter
    >>> flat = torch.full((2, 3, 8, 8), 0.5)
    >>> torch.allclose(gaussian_filter(flat, 1.0), flat)
    True
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F

__all__ = ["REFERENCE_SIZE", "apply_separable", "filter_matrix", "gather_pixels", "gaussian_filter", "hsv_to_rgb",
           "pixel_grid", "pixel_scale", "rgb_to_hsv", "round_half_up", "sample", "to_gray", "zoom_matrix"]

REFERENCE_SIZE = 32  # the corruptions' constants are for 32x32 CIFAR images


def pixel_scale(x: torch.Tensor) -> float:
    """Factor applied to constants that the original defines in pixels of a 32x32 image."""
    return min(x.shape[-2:]) / REFERENCE_SIZE


def round_half_up(value: float) -> int:
    return int(math.floor(value + 0.5))


def pad_indices(size: int, before: int, after: int, mode: str) -> torch.Tensor:
    """Source index of every position of a padded axis, for pads of any width."""
    index = torch.arange(-before, size + after)
    if mode == "replicate" or size == 1:
        return index.clamp(0, size - 1)
    if mode == "reflect":  # mirror about the edge pixels (cv2 BORDER_REFLECT_101, scipy 'mirror')
        period = 2 * size - 2
        index = index.remainder(period)
        return torch.where(index >= size, period - index, index)
    period = 2 * size  # "symmetric": the edge pixel repeats (scipy 'reflect')
    index = index.remainder(period)
    return torch.where(index >= size, period - 1 - index, index)


def filter_matrix(size: int, kernel: torch.Tensor, mode: str) -> torch.Tensor:
    """(size, size) matrix correlating an axis with an odd-length ``kernel``, the border mode folded in.

    Filters are applied as ``rows @ images @ cols.T``: two small matrix products over the whole batch,
    much faster than convolutions of N * C one-channel planes.
    """
    radius = kernel.numel() // 2
    sources = pad_indices(size, radius, radius, mode)
    outputs = torch.arange(size)
    matrix = torch.zeros(size, size, dtype=torch.float64)
    for tap, weight in enumerate(kernel.double()):
        matrix.index_put_((outputs, sources[outputs + tap]), weight.expand(size), accumulate=True)
    return matrix


def apply_separable(x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    return rows.to(x) @ x @ cols.to(x).T


def gaussian_kernel1d(sigma: float, truncate: float) -> torch.Tensor:
    """scipy.ndimage's sampled Gaussian: radius int(truncate * sigma + 0.5), normalized."""
    radius = int(truncate * sigma + 0.5)
    if sigma <= 0 or radius == 0:
        return torch.ones(1, dtype=torch.float64)
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return kernel / kernel.sum()


@functools.lru_cache(maxsize=64)
def gaussian_matrices(height: int, width: int, sigma: float, mode: str, truncate: float):
    kernel = gaussian_kernel1d(sigma, truncate)
    return filter_matrix(height, kernel, mode), filter_matrix(width, kernel, mode)


def gaussian_filter(x: torch.Tensor, sigma: float, mode: str = "replicate", truncate: float = 4.0) -> torch.Tensor:
    """skimage.filters.gaussian per channel (its default border mode 'nearest' is 'replicate')."""
    if int(truncate * sigma + 0.5) == 0:
        return x
    return apply_separable(x, *gaussian_matrices(x.shape[-2], x.shape[-1], sigma, mode, truncate))


def gather_pixels(x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """``out[n, c, i, j] = x[n, c, rows[n, i, j], cols[n, i, j]]`` (indices already inside the image)."""
    n, c, h, w = x.shape
    flat = (rows * w + cols).view(n, 1, -1).expand(n, c, -1)
    return torch.gather(x.reshape(n, c, h * w), 2, flat).view(n, c, h, w)


def sample(x: torch.Tensor, src_x: torch.Tensor, src_y: torch.Tensor, align_corners: bool) -> torch.Tensor:
    """Bilinear sampling at pixel coordinates (N, H, W), reflecting at the borders."""
    h, w = x.shape[-2:]
    if align_corners:  # mirror about the edge pixels' centres (cv2 BORDER_REFLECT_101)
        gx, gy = 2 * src_x / max(w - 1, 1) - 1, 2 * src_y / max(h - 1, 1) - 1
    else:  # mirror about the image edges (scipy map_coordinates mode='reflect')
        gx, gy = (2 * src_x + 1) / w - 1, (2 * src_y + 1) / h - 1
    grid = torch.stack((gx, gy), dim=-1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=align_corners)


def pixel_grid(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    h, w = x.shape[-2:]
    ys = torch.arange(h, dtype=x.dtype, device=x.device)
    xs = torch.arange(w, dtype=x.dtype, device=x.device)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return grid_x, grid_y


def rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    """skimage.color.rgb2hsv over dim 1 (hue in [0, 1))."""
    red, green, blue = x.unbind(1)
    value = x.amax(1)
    delta = value - x.amin(1)
    safe_delta = torch.where(delta > 0, delta, torch.ones_like(delta))
    saturation = torch.where(value > 0, delta / torch.where(value > 0, value, torch.ones_like(value)), 0.0)
    hue = torch.where(
        blue == value,
        4.0 + (red - green) / safe_delta,
        torch.where(green == value, 2.0 + (blue - red) / safe_delta, (green - blue) / safe_delta),
    )
    hue = torch.where(delta > 0, (hue / 6.0).remainder(1.0), 0.0)
    return torch.stack((hue, saturation, value), dim=1)


def hsv_to_rgb(x: torch.Tensor) -> torch.Tensor:
    hue, saturation, value = x.unbind(1)
    channels = []
    for n in (5.0, 3.0, 1.0):
        k = (n + hue * 6.0).remainder(6.0)
        ramp = torch.minimum(k, 4.0 - k).clamp(0.0, 1.0)
        channels.append(value - value * saturation * ramp)
    return torch.stack(channels, dim=1)


def zoom_matrix(size: int, zoom: float) -> torch.Tensor:
    """Rows of the original's clipped_zoom along one axis: centre crop of ceil(size / zoom) pixels,
    scipy.ndimage.zoom(order=1) back up, centre trim to ``size``."""
    crop = math.ceil(size / zoom)
    top = (size - crop) // 2
    zoomed = int(round(crop * zoom))
    trim = (zoomed - size) // 2
    matrix = torch.zeros(size, size, dtype=torch.float64)
    step = (crop - 1) / (zoomed - 1) if zoomed > 1 else 0.0
    for row in range(size):
        position = (row + trim) * step
        low = min(int(math.floor(position)), crop - 1)
        frac = position - low
        matrix[row, top + low] += 1 - frac
        matrix[row, top + min(low + 1, crop - 1)] += frac
    return matrix



def to_gray(x: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) luma of RGB images (cv2.COLOR_RGB2GRAY's weights); gray images are returned as they are."""
    if x.shape[1] == 1:
        return x
    weights = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * weights).sum(1, keepdim=True)
