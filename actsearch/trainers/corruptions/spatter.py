"""The spatter corruption: water drops (severities 1-3) or mud (4-5) from a smoothed, thresholded noise layer.

The water branch repeats make_cifar_c.py's OpenCV chain batched in torch: Canny edges of the drops, a
chamfer distance to them truncated at 20, 3x3 box blur, histogram equalization, an emboss-like 3x3 filter,
another box blur; the drops times that relief tint the image pale turquoise.

    >>> import torch
    >>> from actsearch.trainers.corruptions import corrupt
    >>> images = torch.full((4, 3, 32, 32), 0.5)
    >>> muddy = corrupt(images, "spatter", 5, seed=0)
    >>> bool((muddy < 0.5).any())  # mud darkens
    True
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F

from actsearch.trainers.corruptions.ops import apply_separable, filter_matrix, gaussian_filter, pixel_scale, to_gray
from actsearch.trainers.corruptions.registry import register

__all__ = ["canny", "chamfer_distance", "equalize_histogram", "spatter"]

# (loc, scale, sigma, threshold, intensity, mud), make_cifar_c.py's constants
_SPATTER = (
    (0.62, 0.1, 0.7, 0.7, 0.5, False),
    (0.65, 0.1, 0.8, 0.7, 0.5, False),
    (0.65, 0.3, 1.0, 0.69, 0.5, False),
    (0.65, 0.1, 0.7, 0.69, 0.6, True),
    (0.65, 0.1, 0.5, 0.68, 0.6, True),
)
_WATER = (175, 238, 238)  # pale turquoise
_MUD = (63, 42, 20)  # mud brown
_EMBOSS = ((-2.0, -1.0, 0.0), (-1.0, 1.0, 1.0), (0.0, 1.0, 2.0))
_TAN_22_5 = math.tan(math.radians(22.5))
_TAN_67_5 = math.tan(math.radians(67.5))


@register("spatter")
def spatter(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """make_cifar_c.py's spatter, per image: a N(loc, scale) layer, Gaussian-smoothed with ``sigma`` and zeroed
    below ``threshold``; then either water (1-3: the drops' relief, normalized to ``intensity``, adds pale
    turquoise) or mud (4-5: the drop mask blurred with ``intensity`` as sigma, kept where >= 0.8, blends in
    mud brown). Sigmas are in pixels of a 32x32 image (scaled with the size); the water branch's pixel-sized
    steps (Canny, the distance cap of 20, 3x3 filters) are not. Gray images get the colours' gray value.
    """
    loc, scale, sigma, threshold, intensity, mud = _SPATTER[severity - 1]
    n, _, h, w = x.shape
    size = pixel_scale(x)
    liquid = torch.randn((n, 1, h, w), generator=generator, dtype=torch.float64, device=x.device) * scale + loc
    liquid = gaussian_filter(liquid, sigma * size)
    liquid = torch.where(liquid < threshold, 0.0, liquid)
    if mud:
        mask = gaussian_filter((liquid > threshold).to(torch.float64), intensity * size)
        mask = torch.where(mask < 0.8, 0.0, mask).to(x.dtype)
        return x * (1 - mask) + _colour(_MUD, x) * mask
    drops = torch.floor(liquid.clamp(0.0, 1.0) * 255)  # the original's uint8 cast
    relief = _relief(drops)
    layer = drops * relief
    layer = layer / layer.amax((2, 3), keepdim=True).clamp_min(1e-12) * intensity
    return x + layer.to(x.dtype) * _colour(_WATER, x)


def _colour(rgb: tuple[int, int, int], x: torch.Tensor) -> torch.Tensor:
    colour = (torch.tensor(rgb, dtype=x.dtype, device=x.device) / 255).view(1, 3, 1, 1)
    return to_gray(colour) if x.shape[1] == 1 else colour


def _relief(drops: torch.Tensor) -> torch.Tensor:
    """The water's shading from 8-bit drops (N, 1, H, W), as make_cifar_c.py computes it with OpenCV."""
    edges = canny(drops, 50, 150)
    distance = chamfer_distance(edges, cap=20.0)
    distance = torch.floor(_box3(distance) + 1e-6)  # cv2.blur on float32, then astype(uint8)
    distance = equalize_histogram(distance)
    padded = F.pad(distance.float(), (1, 1, 1, 1), mode="reflect")
    emboss = torch.tensor(_EMBOSS, device=distance.device).view(1, 1, 3, 3)
    distance = F.conv2d(padded, emboss).double().clamp(0, 255)  # filter2D to CV_8U saturates
    return torch.round(_box3(distance))  # cv2.blur of uint8 rounds


def _box3(x: torch.Tensor) -> torch.Tensor:
    """cv2.blur(x, (3, 3)): a 3x3 mean with BORDER_REFLECT_101 (summed, then divided, so that a mean of
    whole numbers that is whole comes out exact for the casts that follow)."""
    ones = torch.ones(3, dtype=torch.float64)
    rows, cols = filter_matrix(x.shape[-2], ones, "reflect"), filter_matrix(x.shape[-1], ones, "reflect")
    return apply_separable(x, rows, cols) / 9


def canny(images: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """cv2.Canny(images, low, high) for (N, 1, H, W) images of 0..255 values: a bool edge map.

    3x3 Sobel with replicated borders, L1 gradient magnitude, non-maximum suppression along the gradient
    direction quantized to 0, 45, 90 or 135 degrees (out-of-image magnitudes count as 0), then hysteresis:
    pixels above ``high`` seed edges that grow through 8-connected pixels above ``low``.
    """
    x = images.float()  # whole numbers: float32 sums are exact
    h, w = x.shape[-2:]
    smooth_rows, slope_rows = _sobel_matrices(h)
    smooth_cols, slope_cols = _sobel_matrices(w)
    dx = apply_separable(x, smooth_rows, slope_cols)
    dy = apply_separable(x, slope_rows, smooth_cols)
    magnitude = dx.abs() + dy.abs()
    around = F.pad(magnitude, (1, 1, 1, 1))

    def neighbour(row: int, col: int) -> torch.Tensor:
        return around[..., 1 + row : 1 + row + h, 1 + col : 1 + col + w]

    horizontal = dy.abs() < dx.abs() * _TAN_22_5
    vertical = dy.abs() > dx.abs() * _TAN_67_5
    keep_horizontal = (magnitude > neighbour(0, -1)) & (magnitude >= neighbour(0, 1))
    keep_vertical = (magnitude > neighbour(-1, 0)) & (magnitude >= neighbour(1, 0))
    keep_falling = (magnitude > neighbour(-1, -1)) & (magnitude > neighbour(1, 1))  # dx, dy of one sign
    keep_rising = (magnitude > neighbour(-1, 1)) & (magnitude > neighbour(1, -1))
    keep_diagonal = torch.where((dx < 0) == (dy < 0), keep_falling, keep_rising)
    maximum = torch.where(horizontal, keep_horizontal, torch.where(vertical, keep_vertical, keep_diagonal))
    candidates = maximum & (magnitude > low)
    edges = candidates & (magnitude > high)
    while True:
        grown = candidates & _dilate(edges)
        if torch.equal(grown, edges):
            return edges
        edges = grown


def _dilate(mask: torch.Tensor) -> torch.Tensor:
    """A bool mask grown by its 8 neighbours (a 3x3 max filter, cheaper than max_pool2d on the CPU)."""
    rows = mask.clone()
    rows[..., 1:, :] |= mask[..., :-1, :]
    rows[..., :-1, :] |= mask[..., 1:, :]
    grown = rows.clone()
    grown[..., :, 1:] |= rows[..., :, :-1]
    grown[..., :, :-1] |= rows[..., :, 1:]
    return grown


@functools.lru_cache(maxsize=16)
def _sobel_matrices(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(smoothing, derivative) filter matrices of the 3x3 Sobel along one axis, borders replicated."""
    smooth = filter_matrix(size, torch.tensor([1.0, 2.0, 1.0]), "replicate").float()
    slope = filter_matrix(size, torch.tensor([-1.0, 0.0, 1.0]), "replicate").float()
    return smooth, slope


_CHAMFER = (  # cv2.distanceTransform(DIST_L2, 5)'s 5x5 mask: 1 orthogonal, 1.4 diagonal, 2.1969 knight's move
    *(((dy, dx), 1.0) for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1))),
    *(((dy, dx), 1.4) for dy, dx in ((-1, -1), (-1, 1), (1, -1), (1, 1))),
    *(((dy, dx), 2.1969) for dy, dx in ((-2, -1), (-2, 1), (2, -1), (2, 1), (-1, -2), (1, -2), (-1, 2), (1, 2))),
)


def chamfer_distance(zeros: torch.Tensor, cap: float) -> torch.Tensor:
    """Distance of every pixel to the nearest ``True`` pixel of ``zeros`` (N, 1, H, W) under OpenCV's 5x5
    chamfer mask, capped at ``cap`` (cv2.distanceTransform of the complement, then THRESH_TRUNC at ``cap``).

    Relaxed in parallel until nothing changes, which reaches the same shortest-path distances as OpenCV's
    two sequential passes; pixels outside the image are never sources.
    """
    limit = cap + 3.0  # anything beyond the cap is cut anyway; keeps the relaxation short
    distance = torch.where(zeros, 0.0, limit).float()
    h, w = distance.shape[-2:]
    while True:
        padded = F.pad(distance, (2, 2, 2, 2), value=limit)
        relaxed = distance
        for (dy, dx), step in _CHAMFER:
            relaxed = torch.minimum(relaxed, padded[..., 2 + dy : 2 + dy + h, 2 + dx : 2 + dx + w] + step)
        if torch.equal(relaxed, distance):
            return distance.clamp(max=cap)
        distance = relaxed


def equalize_histogram(images: torch.Tensor) -> torch.Tensor:
    """cv2.equalizeHist per image for (N, 1, H, W) integer values 0..255 (returned as floats)."""
    n = images.shape[0]
    values = images.reshape(n, -1).long()
    counts = torch.zeros(n, 256, dtype=torch.float64, device=images.device).scatter_add_(
        1, values, torch.ones_like(values, dtype=torch.float64))
    first = (counts > 0).to(torch.int8).argmax(1, keepdim=True)
    lowest = counts.gather(1, first)
    total = values.shape[1]
    single = lowest == total
    scale = (255.0 / (total - lowest).clamp_min(1)).float()
    table = ((counts.cumsum(1) - lowest).float() * scale).round().clamp(0, 255).double()
    table = torch.where(single, first.double().expand(-1, 256), table)
    return table.gather(1, values).view_as(images).to(images.dtype)
