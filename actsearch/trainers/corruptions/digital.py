"""Digital corruptions: contrast, saturate, jpeg_compression (libjpeg through torchvision), pixelate,
elastic_transform.

    >>> import torch
    >>> from actsearch.trainers.corruptions import corrupt
    >>> images = torch.rand(2, 3, 32, 32)
    >>> corrupt(images, "jpeg_compression", 5).shape
    torch.Size([2, 3, 32, 32])
"""

from __future__ import annotations

import functools
import warnings

import torch
from torchvision.io import decode_jpeg, encode_jpeg

from actsearch.trainers.corruptions.ops import gaussian_filter, hsv_to_rgb, pixel_grid, rgb_to_hsv, sample
from actsearch.trainers.corruptions.registry import register

__all__ = ["contrast", "elastic_transform", "jpeg_compression", "pixelate", "saturate"]


@register("contrast")
def contrast(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """(x - mean) * c + mean with per-image, per-channel means; c = 0.75, 0.5, 0.4, 0.3, 0.15."""
    factor = (0.75, 0.5, 0.4, 0.3, 0.15)[severity - 1]
    means = x.mean((2, 3), keepdim=True)
    return (x - means) * factor + means


@register("saturate")
def saturate(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """HSV saturation * c0 + c1, (c0, c1) = (0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2).

    Severities 1-2 desaturate and 3-5 oversaturate, so the distortion is not monotone across 2 -> 3.
    Gray (1-channel) images are returned unchanged: they have no saturation to scale.
    """
    factor, offset = ((0.3, 0.0), (0.1, 0.0), (1.5, 0.0), (2.0, 0.1), (2.5, 0.2))[severity - 1]
    if x.shape[1] == 1:
        return x
    hsv = rgb_to_hsv(x)
    saturation = (hsv[:, 1:2] * factor + offset).clamp(0.0, 1.0)
    return hsv_to_rgb(torch.cat((hsv[:, :1], saturation, hsv[:, 2:]), dim=1))


@register("jpeg_compression")
def jpeg_compression(x: torch.Tensor, severity: int, generator: torch.Generator) -> torch.Tensor:
    """JPEG at quality 80, 65, 58, 50, 40 by libjpeg, through ``torchvision.io.encode_jpeg``/``decode_jpeg``.

    The images are rounded to 8 bits and coded on the CPU (the same libjpeg settings as PIL's ``save(...,
    "JPEG", quality=q)``: standard tables, 4:2:0 chroma for RGB), a list of the batch's images per call, and
    the decoded images go back to the input's device. Gray images are coded as one-channel JPEGs.
    """
    quality = (80, 65, 58, 50, 40)[severity - 1]
    pixels = (x.clamp(0.0, 1.0) * 255).round().to(device="cpu", dtype=torch.uint8)
    with warnings.catch_warnings():  # torchvision 0.29 announces the move to TorchCodec on every call
        warnings.filterwarnings("ignore", message="The image decoding and encoding", category=DeprecationWarning)
        decoded = decode_jpeg(encode_jpeg(list(pixels), quality=quality))
    return torch.stack(decoded).to(device=x.device, dtype=x.dtype) / 255


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


@register("pixelate")
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


@register("elastic_transform")
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
    grid_x, grid_y = pixel_grid(x.to(dtype))
    targets = torch.stack((grid_x, grid_y), dim=-1).view(1, h * w, 2) - forward[:, 2:, :]
    sources = (targets @ inverse_linear.transpose(1, 2)).view(n, h, w, 2).to(x.dtype)
    x = sample(x, sources[..., 0], sources[..., 1], align_corners=True)
    if alpha == 0:
        return x
    noise = torch.rand((n, 2, h, w), generator=generator, dtype=x.dtype, device=x.device) * 2 - 1
    displacement = gaussian_filter(noise, sigma, mode="symmetric", truncate=3.0) * alpha
    grid_x, grid_y = pixel_grid(x)
    return sample(x, grid_x + displacement[:, 0], grid_y + displacement[:, 1], align_corners=False)