"""CIFAR-C style image corruptions as batched, seeded tensor operations.

Sixteen corruptions of Hendrycks & Dietterich's CIFAR-10-C (``make_cifar_c.py``) with its five severities.
Each takes float images in [0, 1] of shape (N, C, H, W), C in {1, 3}, any H and W, runs on the images'
device without a Python loop over the batch, and returns images of the same shape, dtype and device,
clipped to [0, 1]. Randomness comes from a ``torch.Generator`` on that device, so a seed fixes the
corrupted set: every trial of a search sees the same images.

    >>> import torch
    >>> from actsearch.trainers.corruptions import corrupt, resolve_corruptions
    >>> images = torch.rand(4, 3, 32, 32)
    >>> foggy = corrupt(images, "fog", severity=3, seed=0)
    >>> torch.equal(foggy, corrupt(images, "fog", severity=3, seed=0))
    True
    >>> resolve_corruptions("noise")
    ['gaussian_noise', 'shot_noise', 'impulse_noise']

Where this departs from the original (each function's docstring says more):

- The random streams are torch's, not numpy's: a seed does not reproduce the official CIFAR-10-C files
  (read those with :mod:`actsearch.trainers.cifar_c`), and the same seed gives different images on the CPU
  and on CUDA.
- Constants defined in pixels for 32x32 images (blur sigmas and radii, glass blur's displacement, motion
  blur's length) are scaled by ``min(H, W) / 32``; elastic_transform's are already relative to the size;
  pixelate and zoom_blur are relative by nature. On 8x8 images the blurs are therefore mild
  (gaussian_blur's sigma becomes 0.1 to 0.25 pixels, close to the identity).
- 1-channel images: brightness adds to the gray value, saturate leaves them unchanged (a gray pixel has no
  saturation to scale; only the clipping applies), jpeg_compression codes luminance only.
- jpeg_compression approximates libjpeg; glass_blur does the original's sequential pixel sweep as one
  random displacement field per iteration (exact in distribution for the CIFAR constants, see its
  docstring); motion_blur follows the numpy re-implementation of ImageMagick's motion blur (the CIFAR-C
  script called Wand).
- Some distortions are not monotone in severity by construction: saturate (desaturates at 1-2,
  oversaturates at 3-5), glass_blur (more blur smooths the shuffle: 1-3 and 4-5 are one and two sweeps),
  elastic_transform (the affine jitter shrinks while the elastic field grows).
- snow, frost and spatter are not implemented (they need texture images or long recipes); their official
  files can still be evaluated with :func:`actsearch.trainers.robustness.evaluate_cifar_c`.
"""

from __future__ import annotations

import difflib
import functools
import math
from collections.abc import Callable, Iterable, Mapping

import torch
import torch.nn.functional as F

from actsearch.errors import ConfigError

__all__ = ["CORRUPTIONS", "CORRUPTION_CATEGORIES", "SEVERITIES", "Corruption", "corrupt", "expand_names",
           "resolve_corruptions"]

SEVERITIES = (1, 2, 3, 4, 5)

Corruption = Callable[..., torch.Tensor]
"""``corruption(images, severity=1, generator=None) -> images``; ``generator=None`` means seed 0."""

CORRUPTIONS: dict[str, Corruption] = {}

CORRUPTION_CATEGORIES: dict[str, tuple[str, ...]] = {
    "noise": ("gaussian_noise", "shot_noise", "impulse_noise"),
    "blur": ("defocus_blur", "glass_blur", "motion_blur", "zoom_blur"),
    "weather": ("fog", "brightness"),  # snow and frost are not implemented
    "digital": ("contrast", "elastic_transform", "pixelate", "jpeg_compression"),
    "extra": ("speckle_noise", "gaussian_blur", "saturate"),  # spatter is not implemented
}

_REFERENCE_SIZE = 32  # the constants below are for 32x32 CIFAR images


def corrupt(images: torch.Tensor, name: str, severity: int, seed: int = 0) -> torch.Tensor:
    """Corrupt a batch with corruption ``name`` at ``severity`` (1..5), seeded by ``seed``.

    The generator lives on the images' device; the same seed gives the same images on every call.
    """
    if name not in CORRUPTIONS:
        raise ConfigError(_unknown_message(name))
    return CORRUPTIONS[name](images, severity, _generator(seed, images.device))


def resolve_corruptions(spec: str | Iterable[str] | None) -> list[str]:
    """Turn a corruption spec into a list of corruption names, in registry order for categories.

    ``None`` means no corrupted evaluation (``[]``); ``"all"`` every implemented corruption; a string or
    a list may mix corruption names and category names (noise, blur, weather, digital, extra).
    Duplicates are dropped, the first occurrence keeps its place.
    """
    if spec is None:
        return []
    return expand_names(spec, CORRUPTIONS, CORRUPTION_CATEGORIES, _unknown_message)


def expand_names(spec: str | Iterable[str], names: Iterable[str], categories: Mapping[str, Iterable[str]],
                 unknown: Callable[[object], str]) -> list[str]:
    """Expand a name, a category, ``"all"`` or a list of them into ``names`` entries, first occurrence first;
    anything else raises :class:`~actsearch.errors.ConfigError` with the message ``unknown(item)``."""
    items = list(spec) if isinstance(spec, Iterable) and not isinstance(spec, str) else [spec]
    names = list(names)
    result: list[str] = []
    for item in items:
        key = item.strip().lower() if isinstance(item, str) else None
        if key == "all":
            expanded = names
        elif key in categories:
            expanded = list(categories[key])
        elif key in names:
            expanded = [key]
        else:
            raise ConfigError(unknown(item))
        result.extend(name for name in expanded if name not in result)
    return result


def _allowed_text() -> str:
    return (
        f"allowed corruptions: {', '.join(CORRUPTIONS)}; "
        f"categories: {', '.join(CORRUPTION_CATEGORIES)}; or 'all'"
    )


def _unknown_message(name: object) -> str:
    message = f"unknown corruption {name!r}; {_allowed_text()}"
    if isinstance(name, str):
        candidates = [*CORRUPTIONS, *CORRUPTION_CATEGORIES]
        close = [c for c in candidates if c.startswith(name.lower())] or difflib.get_close_matches(
            name.lower(), candidates, n=1
        )
        if close:
            message += f"; did you mean {close[0]!r}?"
    return message


def _generator(seed: int, device: torch.device) -> torch.Generator:
    generator = torch.Generator(device=device)
    generator.manual_seed(int(seed))
    return generator


def _register(name: str) -> Callable[[Callable], Corruption]:
    """Register ``fn(images_float, severity, generator)``, wrapped with input checks, clipping and dtype."""

    def decorate(fn: Callable[[torch.Tensor, int, torch.Generator], torch.Tensor]) -> Corruption:
        @functools.wraps(fn)
        def apply(images: torch.Tensor, severity: int = 1, generator: torch.Generator | None = None) -> torch.Tensor:
            work = _check_images(images, name)
            level = _check_severity(severity, name)
            if generator is None:
                generator = _generator(0, images.device)
            return fn(work, level, generator).clamp(0.0, 1.0).to(images.dtype)

        CORRUPTIONS[name] = apply
        return apply

    return decorate


def _check_images(images: object, name: str) -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or not images.is_floating_point():
        kind = images.dtype if isinstance(images, torch.Tensor) else type(images).__name__
        raise ConfigError(f"{name}: images must be a float tensor with values in [0, 1], got {kind}")
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ConfigError(f"{name}: images must have shape (N, C, H, W) with C 1 or 3, got {tuple(images.shape)}")
    return images if images.dtype == torch.float64 else images.float()


def _check_severity(severity: object, name: str) -> int:
    if isinstance(severity, bool) or not isinstance(severity, int) or severity not in SEVERITIES:
        raise ConfigError(f"{name}: severity must be an integer 1..5, got {severity!r}")
    return severity


# ----------------------------------------------------------------------------------------------- helpers


def _pixel_scale(x: torch.Tensor) -> float:
    """Factor applied to constants that the original defines in pixels of a 32x32 image."""
    return min(x.shape[-2:]) / _REFERENCE_SIZE


def _round_half_up(value: float) -> int:
    return int(math.floor(value + 0.5))


def _pad_indices(size: int, before: int, after: int, mode: str) -> torch.Tensor:
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


def _filter_matrix(size: int, kernel: torch.Tensor, mode: str) -> torch.Tensor:
    """(size, size) matrix correlating an axis with an odd-length ``kernel``, the border mode folded in.

    Filters are applied as ``rows @ images @ cols.T``: two small matrix products over the whole batch,
    much faster than convolutions of N * C one-channel planes.
    """
    radius = kernel.numel() // 2
    sources = _pad_indices(size, radius, radius, mode)
    outputs = torch.arange(size)
    matrix = torch.zeros(size, size, dtype=torch.float64)
    for tap, weight in enumerate(kernel.double()):
        matrix.index_put_((outputs, sources[outputs + tap]), weight.expand(size), accumulate=True)
    return matrix


def _apply_separable(x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    return rows.to(x) @ x @ cols.to(x).T


def _gaussian_kernel1d(sigma: float, truncate: float) -> torch.Tensor:
    """scipy.ndimage's sampled Gaussian: radius int(truncate * sigma + 0.5), normalized."""
    radius = int(truncate * sigma + 0.5)
    if sigma <= 0 or radius == 0:
        return torch.ones(1, dtype=torch.float64)
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return kernel / kernel.sum()


@functools.lru_cache(maxsize=64)
def _gaussian_matrices(height: int, width: int, sigma: float, mode: str, truncate: float):
    kernel = _gaussian_kernel1d(sigma, truncate)
    return _filter_matrix(height, kernel, mode), _filter_matrix(width, kernel, mode)


def _gaussian_filter(x: torch.Tensor, sigma: float, mode: str = "replicate", truncate: float = 4.0) -> torch.Tensor:
    """skimage.filters.gaussian per channel (its default border mode 'nearest' is 'replicate')."""
    if int(truncate * sigma + 0.5) == 0:
        return x
    return _apply_separable(x, *_gaussian_matrices(x.shape[-2], x.shape[-1], sigma, mode, truncate))


def _gather_pixels(x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """``out[n, c, i, j] = x[n, c, rows[n, i, j], cols[n, i, j]]`` (indices already inside the image)."""
    n, c, h, w = x.shape
    flat = (rows * w + cols).view(n, 1, -1).expand(n, c, -1)
    return torch.gather(x.reshape(n, c, h * w), 2, flat).view(n, c, h, w)


def _sample(x: torch.Tensor, src_x: torch.Tensor, src_y: torch.Tensor, align_corners: bool) -> torch.Tensor:
    """Bilinear sampling at pixel coordinates (N, H, W), reflecting at the borders."""
    h, w = x.shape[-2:]
    if align_corners:  # mirror about the edge pixels' centres (cv2 BORDER_REFLECT_101)
        gx, gy = 2 * src_x / max(w - 1, 1) - 1, 2 * src_y / max(h - 1, 1) - 1
    else:  # mirror about the image edges (scipy map_coordinates mode='reflect')
        gx, gy = (2 * src_x + 1) / w - 1, (2 * src_y + 1) / h - 1
    grid = torch.stack((gx, gy), dim=-1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=align_corners)


def _pixel_grid(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    h, w = x.shape[-2:]
    ys = torch.arange(h, dtype=x.dtype, device=x.device)
    xs = torch.arange(w, dtype=x.dtype, device=x.device)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return grid_x, grid_y


def _rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
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


def _hsv_to_rgb(x: torch.Tensor) -> torch.Tensor:
    hue, saturation, value = x.unbind(1)
    channels = []
    for n in (5.0, 3.0, 1.0):
        k = (n + hue * 6.0).remainder(6.0)
        ramp = torch.minimum(k, 4.0 - k).clamp(0.0, 1.0)
        channels.append(value - value * saturation * ramp)
    return torch.stack(channels, dim=1)


# ----------------------------------------------------------------------------------------------- noise


@_register("gaussian_noise")
def gaussian_noise(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """x + N(0, c), c = 0.04, 0.06, 0.08, 0.09, 0.10."""
    scale = (0.04, 0.06, 0.08, 0.09, 0.10)[severity - 1]
    return x + scale * torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)


@_register("shot_noise")
def shot_noise(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Poisson(x * c) / c, c = 500, 250, 100, 75, 50 (smaller c, more noise)."""
    photons = (500, 250, 100, 75, 50)[severity - 1]
    return torch.poisson(x.clamp(0.0, 1.0) * photons, generator=generator) / photons


@_register("impulse_noise")
def impulse_noise(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Salt and pepper on a fraction c of the values (each channel apart, as skimage's random_noise)."""
    amount = (0.01, 0.02, 0.03, 0.05, 0.07)[severity - 1]
    hit = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device) < amount
    salt = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device) < 0.5
    return torch.where(hit, salt.to(x.dtype), x)


@_register("speckle_noise")
def speckle_noise(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """x + x * N(0, c), c = 0.06, 0.10, 0.12, 0.16, 0.20."""
    scale = (0.06, 0.10, 0.12, 0.16, 0.20)[severity - 1]
    return x + x * scale * torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)


# ----------------------------------------------------------------------------------------------- blur


@_register("gaussian_blur")
def gaussian_blur(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Gaussian blur, sigma = 0.4, 0.6, 0.7, 0.8, 1.0 pixels at 32x32 (scaled with the image size)."""
    sigma = (0.4, 0.6, 0.7, 0.8, 1.0)[severity - 1]
    return _gaussian_filter(x, sigma * _pixel_scale(x))


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
            _filter_matrix(height, left[:, k] * singular[k], "reflect"),
            _filter_matrix(width, right[k], "reflect"),
        )
        for k in range(len(singular))
        if singular[k] > 1e-9 * singular[0]
    )


@_register("defocus_blur")
def defocus_blur(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Disk kernel, (radius, alias_blur) = (0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)."""
    radius, alias_blur = ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1.0, 0.2), (1.5, 0.1))[severity - 1]
    matrices = _defocus_matrices(x.shape[-2], x.shape[-1], radius, alias_blur, _pixel_scale(x))
    return sum(_apply_separable(x, rows, cols) for rows, cols in matrices)


@_register("glass_blur")
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
    scale = _pixel_scale(x)
    sigma *= scale
    delta = max(1, _round_half_up(max_delta * scale))
    x = torch.floor(_gaussian_filter(x, sigma).clamp(0.0, 1.0) * 255) / 255
    n, _, h, w = x.shape
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    swept = (rows > delta) & (rows <= h - delta) & (cols > delta) & (cols <= w - delta)
    for _ in range(iterations):
        dy = torch.randint(-delta, delta, (n, h, w), generator=generator, device=x.device) * swept
        dx = torch.randint(-delta, delta, (n, h, w), generator=generator, device=x.device) * swept
        x = _gather_pixels(x, (rows + dy).clamp(0, h - 1), (cols + dx).clamp(0, w - 1))
    return _gaussian_filter(x, sigma)


@_register("motion_blur")
def motion_blur(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Motion blur along a random angle in [-45, 45] degrees per image, (radius, sigma) = (6, 1), (6, 1.5),
    (6, 2), (8, 2), (9, 2.5) at 32x32 (scaled with the image size).

    Follows imagenet_c's numpy version of ImageMagick's kernel: ``2 * radius + 1`` taps on a one-sided ray,
    weights exp(-i^2 / (2 sigma^2)) normalized, each tap an integer shift with edge replication. Every
    image has its own angle; the taps are gathered for the whole batch at once.
    """
    radius, sigma = ((6, 1.0), (6, 1.5), (6, 2.0), (8, 2.0), (9, 2.5))[severity - 1]
    scale = _pixel_scale(x)
    radius = max(1, _round_half_up(radius * scale))
    sigma *= scale
    width = 2 * radius + 1
    weights = torch.exp(-torch.arange(width, dtype=torch.float64) ** 2 / (2 * sigma**2))
    weights = (weights / weights.sum()).tolist()
    n, _, h, w = x.shape
    angle = torch.deg2rad(torch.rand(n, generator=generator, dtype=torch.float64, device=x.device) * 90 - 45)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    out = torch.zeros_like(x)
    for tap, weight in enumerate(weights):
        dy = -torch.ceil(tap * torch.sin(angle) - 0.5).long().view(n, 1, 1)
        dx = -torch.ceil(tap * torch.cos(angle) - 0.5).long().view(n, 1, 1)
        inside = ((dy.abs() < h) & (dx.abs() < w)).to(x.dtype).view(n, 1, 1, 1)  # the original stops there
        shifted = _gather_pixels(x, (rows - dy).clamp(0, h - 1), (cols - dx).clamp(0, w - 1))
        out.addcmul_(shifted, inside * weight)
    return out


def _zoom_matrix(size: int, zoom: float) -> torch.Tensor:
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


@functools.lru_cache(maxsize=None)
def _zoom_matrices(height: int, width: int, count: int) -> tuple[tuple[torch.Tensor, torch.Tensor], ...]:
    step = (1 + 0.01) - 1  # np.arange's own step: the zooms match the original to the last bit
    zooms = [1 + i * step for i in range(count)]
    return tuple((_zoom_matrix(height, z), _zoom_matrix(width, z)) for z in zooms)


@functools.lru_cache(maxsize=16)
def _zoom_operator(height: int, width: int, count: int) -> torch.Tensor:
    """The whole zoom blur as one (H*W, H*W) matrix, for small images: a single large matrix product is
    several times faster than ``count`` pairs of small ones."""
    rows, cols = (torch.stack(matrices) for matrices in zip(*_zoom_matrices(height, width, count)))
    zooms = torch.einsum("zik,zjl->ijkl", rows, cols).reshape(height * width, height * width)
    return ((zooms + torch.eye(height * width, dtype=torch.float64)) / (count + 1)).float()


_DENSE_ZOOM_PIXELS = 32 * 32


@_register("zoom_blur")
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
        out = out + _apply_separable(x, rows, cols)
    return out / (count + 1)


# ----------------------------------------------------------------------------------------------- weather


def _plasma_fractal(count: int, mapsize: int, wibbledecay: float, generator: torch.Generator, device) -> torch.Tensor:
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


@_register("fog")
def fog(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Add c0 * plasma fractal, rescale by max / (max + c0); (c0, wibbledecay) = (0.2, 3), (0.5, 3),
    (0.75, 2.5), (1, 2), (1.5, 1.75). The fractal map is the next power of two of the image size, cropped."""
    strength, wibbledecay = ((0.2, 3.0), (0.5, 3.0), (0.75, 2.5), (1.0, 2.0), (1.5, 1.75))[severity - 1]
    n, _, h, w = x.shape
    mapsize = 1 << max(1, math.ceil(math.log2(max(h, w))))
    plasma = _plasma_fractal(n, mapsize, wibbledecay, generator, x.device)[:, None, :h, :w].to(x.dtype)
    peak = x.amax((1, 2, 3), keepdim=True)
    return (x + strength * plasma) * peak / (peak + strength)


@_register("brightness")
def brightness(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """HSV value + c, c = 0.05, 0.1, 0.15, 0.2, 0.3 (gray images: the gray value + c)."""
    shift = (0.05, 0.1, 0.15, 0.2, 0.3)[severity - 1]
    if x.shape[1] == 1:
        return x + shift
    hsv = _rgb_to_hsv(x)
    hsv = torch.cat((hsv[:, :2], (hsv[:, 2:] + shift).clamp(0.0, 1.0)), dim=1)
    return _hsv_to_rgb(hsv)


# ----------------------------------------------------------------------------------------------- digital


@_register("contrast")
def contrast(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """(x - mean) * c + mean with per-image, per-channel means; c = 0.75, 0.5, 0.4, 0.3, 0.15."""
    factor = (0.75, 0.5, 0.4, 0.3, 0.15)[severity - 1]
    means = x.mean((2, 3), keepdim=True)
    return (x - means) * factor + means


@_register("saturate")
def saturate(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """HSV saturation * c0 + c1, (c0, c1) = (0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2).

    Severities 1-2 desaturate and 3-5 oversaturate, so the distortion is not monotone across 2 -> 3.
    Gray (1-channel) images are returned unchanged: they have no saturation to scale.
    """
    factor, offset = ((0.3, 0.0), (0.1, 0.0), (1.5, 0.0), (2.0, 0.1), (2.5, 0.2))[severity - 1]
    if x.shape[1] == 1:
        return x
    hsv = _rgb_to_hsv(x)
    saturation = (hsv[:, 1:2] * factor + offset).clamp(0.0, 1.0)
    return _hsv_to_rgb(torch.cat((hsv[:, :1], saturation, hsv[:, 2:]), dim=1))


_JPEG_LUMA = (
    (16, 11, 10, 16, 24, 40, 51, 61),
    (12, 12, 14, 19, 26, 58, 60, 55),
    (14, 13, 16, 24, 40, 57, 69, 56),
    (14, 17, 22, 29, 51, 87, 80, 62),
    (18, 22, 37, 56, 68, 109, 103, 77),
    (24, 35, 55, 64, 81, 104, 113, 92),
    (49, 64, 78, 87, 103, 121, 120, 101),
    (72, 92, 95, 98, 112, 100, 103, 99),
)
_JPEG_CHROMA = (
    (17, 18, 24, 47, 99, 99, 99, 99),
    (18, 21, 26, 66, 99, 99, 99, 99),
    (24, 26, 56, 99, 99, 99, 99, 99),
    (47, 66, 99, 99, 99, 99, 99, 99),
    *((99,) * 8,) * 4,
)


def _jpeg_table(base: tuple[tuple[int, ...], ...], quality: int, dtype, device) -> torch.Tensor:
    """libjpeg's jpeg_quality_scaling applied to a standard (Annex K) table, baseline-clamped."""
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    table = (torch.tensor(base, dtype=torch.int64) * scale + 50) // 100
    return table.clamp(1, 255).to(dtype=dtype, device=device)


def _dct_matrix(dtype, device) -> torch.Tensor:
    index = torch.arange(8, dtype=torch.float64)
    matrix = torch.cos((2 * index[None, :] + 1) * index[:, None] * math.pi / 16) * math.sqrt(2 / 8)
    matrix[0] = math.sqrt(1 / 8)
    return matrix.to(dtype=dtype, device=device)


def _quantize_blocks(planes: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """8x8 block DCT, quantize with rounding, dequantize, inverse DCT; samples 0..255 in and out."""
    n, c, h, w = planes.shape
    dct = _dct_matrix(planes.dtype, planes.device)
    blocks = (planes - 128).view(n, c, h // 8, 8, w // 8, 8).transpose(3, 4)
    coefficients = dct @ blocks @ dct.T
    coefficients = torch.round(coefficients / table) * table
    blocks = dct.T @ coefficients @ dct
    return (blocks.transpose(3, 4).reshape(n, c, h, w) + 128).round().clamp(0, 255)


@_register("jpeg_compression")
def jpeg_compression(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """JPEG at quality 80, 65, 58, 50, 40, as a batched tensor approximation of libjpeg (PIL's default).

    JFIF RGB -> YCbCr rounded to integers, 4:2:0 chroma subsampling (2x2 mean), 8x8 block DCT by matrix
    multiply, the standard tables scaled by libjpeg's quality formula, rounding quantization, inverse DCT,
    bilinear chroma upsampling (libjpeg's "fancy" triangle filter), YCbCr -> RGB rounded to 8 bits.
    Borders are padded by edge replication to whole blocks. It differs from libjpeg in its float DCT and
    rounding details: on CIFAR-like images it is about one gray level (of 255) from PIL's output on
    average, and its mean distortion matches PIL's within a few percent.
    """
    quality = (80, 65, 58, 50, 40)[severity - 1]
    n, c, h, w = x.shape
    unit = 16 if c == 3 else 8
    pad_h, pad_w = -h % unit, -w % unit
    samples = x.clamp(0.0, 1.0) * 255
    if pad_h or pad_w:
        samples = samples.index_select(-2, torch.arange(h + pad_h, device=x.device).clamp(max=h - 1))
        samples = samples.index_select(-1, torch.arange(w + pad_w, device=x.device).clamp(max=w - 1))
    luma_table = _jpeg_table(_JPEG_LUMA, quality, x.dtype, x.device)
    if c == 1:
        return _quantize_blocks(samples.round(), luma_table)[..., :h, :w] / 255
    red, green, blue = samples.unbind(1)
    luma = 0.299 * red + 0.587 * green + 0.114 * blue
    blue_diff = -0.168735892 * red - 0.331264108 * green + 0.5 * blue + 128
    red_diff = 0.5 * red - 0.418687589 * green - 0.081312411 * blue + 128
    luma = _quantize_blocks(luma.round().clamp(0, 255)[:, None], luma_table)
    chroma = torch.stack((blue_diff, red_diff), dim=1).round().clamp(0, 255)
    chroma = F.avg_pool2d(chroma, 2).round()
    chroma = _quantize_blocks(chroma, _jpeg_table(_JPEG_CHROMA, quality, x.dtype, x.device))
    chroma = F.interpolate(chroma, scale_factor=2, mode="bilinear", align_corners=False) - 128
    blue_diff, red_diff = chroma.unbind(1)
    luma = luma[:, 0]
    rgb = torch.stack(
        (
            luma + 1.402 * red_diff,
            luma - 0.344136286 * blue_diff - 0.714136286 * red_diff,
            luma + 1.772 * blue_diff,
        ),
        dim=1,
    )
    return rgb.round().clamp(0, 255)[..., :h, :w] / 255


def _pil_box_matrix(in_size: int, out_size: int) -> torch.Tensor:
    """PIL's Image.resize(..., BOX) weights along one axis (pixel centres inside the output's box)."""
    scale = in_size / out_size
    filter_scale = max(scale, 1.0)
    support = 0.5 * filter_scale
    matrix = torch.zeros(out_size, in_size, dtype=torch.float64)
    for out in range(out_size):
        centre = (out + 0.5) * scale
        first = max(int(centre - support + 0.5), 0)
        last = min(int(centre + support + 0.5), in_size)
        for source in range(first, last):
            offset = (source - centre + 0.5) / filter_scale
            if -0.5 < offset <= 0.5:
                matrix[out, source] = 1.0
    return matrix / matrix.sum(1, keepdim=True)


@functools.lru_cache(maxsize=None)
def _pixelate_matrix(size: int, factor: float) -> torch.Tensor:
    small = max(1, int(size * factor))
    return _pil_box_matrix(small, size) @ _pil_box_matrix(size, small)


@_register("pixelate")
def pixelate(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Box-downscale each side to int(size * c), then back up (PIL's BOX filter, as two matrix products);
    c = 0.95, 0.9, 0.85, 0.75, 0.65.

    On small images the sizes round irregularly (16 px: 15, 14, 13, 12, 10; 8 px: 7, 7, 6, 6, 5), and the
    box pattern can make one level distort a little more than the next.
    """
    factor = (0.95, 0.9, 0.85, 0.75, 0.65)[severity - 1]
    rows = _pixelate_matrix(x.shape[-2], factor).to(dtype=x.dtype, device=x.device)
    cols = _pixelate_matrix(x.shape[-1], factor).to(dtype=x.dtype, device=x.device)
    return rows @ x @ cols.T


@_register("elastic_transform")
def elastic_transform(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """Random affine jitter, then a smoothed random displacement field.

    (alpha, sigma, affine) = size * (0, 0, 0.08), (0.05, 0.2, 0.07), (0.08, 0.06, 0.06), (0.1, 0.04, 0.05),
    (0.1, 0.03, 0.03) with size = min(H, W) (2.56, 1.6, ... pixels at 32x32, as in the reference). The
    affine map moves three points around the centre by U(-affine, affine) each (cv2.getAffineTransform,
    BORDER_REFLECT_101); the displacement is U(-1, 1) noise Gaussian-smoothed with sigma (truncate 3)
    times alpha, sampled bilinearly with reflection (scipy map_coordinates). The original's affine
    jitter shrinks while the displacement grows with severity, so the distortion is not strictly monotone.
    """
    fractions = ((0.0, 0.0, 0.08), (0.05, 0.2, 0.07), (0.08, 0.06, 0.06), (0.1, 0.04, 0.05), (0.1, 0.03, 0.03))
    size = min(x.shape[-2:])
    alpha, sigma, affine = (size * f for f in fractions[severity - 1])
    n, _, h, w = x.shape
    dtype = torch.float64
    centre_x, centre_y, square = float(w // 2), float(h // 2), float(size // 3)
    source_points = torch.tensor(
        [[centre_x + square, centre_y + square], [centre_x + square, centre_y - square],
         [centre_x - square, centre_y - square]],
        dtype=dtype, device=x.device,
    )
    jitter = torch.rand((n, 3, 2), generator=generator, dtype=dtype, device=x.device) * 2 * affine - affine
    homogeneous = torch.cat((source_points, torch.ones(3, 1, dtype=dtype, device=x.device)), dim=1)
    # forward map (per image): [x y 1] @ forward = [x' y']; sample the output at its inverse
    forward = torch.linalg.solve(homogeneous.expand(n, 3, 3), source_points + jitter)
    inverse_linear = torch.linalg.inv(forward[:, :2, :].transpose(1, 2))
    grid_x, grid_y = _pixel_grid(x.to(dtype))
    targets = torch.stack((grid_x, grid_y), dim=-1).view(1, h * w, 2) - forward[:, 2:, :]
    sources = (targets @ inverse_linear.transpose(1, 2)).view(n, h, w, 2).to(x.dtype)
    x = _sample(x, sources[..., 0], sources[..., 1], align_corners=True)
    if alpha == 0:
        return x
    noise = torch.rand((n, 2, h, w), generator=generator, dtype=x.dtype, device=x.device) * 2 - 1
    displacement = _gaussian_filter(noise, sigma, mode="symmetric", truncate=3.0) * alpha
    grid_x, grid_y = _pixel_grid(x)
    return _sample(x, grid_x + displacement[:, 0], grid_y + displacement[:, 1], align_corners=False)
