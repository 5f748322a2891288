"""The batched corruptions against the original CIFAR-C recipes (PIL, scipy and numpy re-implementations)."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from actsearch.trainers.corruptions import corrupt

Image = pytest.importorskip("PIL.Image")
ndimage = pytest.importorskip("scipy.ndimage")


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    """Smooth random fields with edges (as in test_corruptions_ops), float64 for exact comparisons."""
    generator = torch.Generator().manual_seed(1)
    images = F.interpolate(torch.rand(8, 3, 5, 5, generator=generator, dtype=torch.float64), size=(32, 32),
                           mode="bicubic", align_corners=False)
    images[:, :, 8:16, 10:] += 0.3
    images[:, :, :, :6] -= 0.2
    return images.clamp(0.05, 0.95)


@pytest.fixture(scope="module")
def images_uint8(images) -> torch.Tensor:
    return (images * 255).round().to(torch.uint8)


def as_hwc(images: torch.Tensor) -> np.ndarray:
    return images.permute(0, 2, 3, 1).numpy()


@pytest.mark.parametrize("severity", range(1, 6))
def test_gaussian_blur_matches_scipy(images, severity):
    sigma = (0.4, 0.6, 0.7, 0.8, 1.0)[severity - 1]
    expected = ndimage.gaussian_filter(images.numpy(), sigma=(0, 0, sigma, sigma), mode="nearest")
    assert np.allclose(corrupt(images, "gaussian_blur", severity).numpy(), expected, atol=1e-9)


@pytest.mark.parametrize("severity", range(1, 6))
def test_zoom_blur_matches_scipy_clipped_zoom(images, severity):
    def clipped_zoom(image, zoom):
        size = image.shape[0]
        crop = int(np.ceil(size / zoom))
        top = (size - crop) // 2
        zoomed = ndimage.zoom(image[top : top + crop, top : top + crop], (zoom, zoom, 1), order=1)
        trim = (zoomed.shape[0] - size) // 2
        return zoomed[trim : trim + size, trim : trim + size]

    zooms = np.arange(1, (1.06, 1.11, 1.16, 1.21, 1.26)[severity - 1], 0.01)
    expected = [(image + sum(clipped_zoom(image, z) for z in zooms)) / (len(zooms) + 1) for image in as_hwc(images)]
    assert np.allclose(as_hwc(corrupt(images, "zoom_blur", severity)), np.clip(expected, 0, 1), atol=1e-5)


@pytest.mark.parametrize("severity", range(1, 6))
def test_pixelate_matches_pil_box_resize(images_uint8, severity):
    factor = (0.95, 0.9, 0.85, 0.75, 0.65)[severity - 1]
    expected = []
    for image in as_hwc(images_uint8):
        small = Image.fromarray(image).resize((int(32 * factor),) * 2, Image.BOX)
        expected.append(np.asarray(small.resize((32, 32), Image.BOX)))
    ours = as_hwc(corrupt(images_uint8.double() / 255, "pixelate", severity)) * 255
    assert np.abs(ours - np.stack(expected)).max() <= 1 + 1e-9  # PIL rounds to 8 bits between the two resizes


@pytest.mark.parametrize("severity", range(1, 6))
def test_jpeg_is_close_to_pil(images_uint8, severity):
    quality = (80, 65, 58, 50, 40)[severity - 1]
    expected = []
    for image in as_hwc(images_uint8):
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, "JPEG", quality=quality)
        expected.append(np.asarray(Image.open(buffer)))
    expected = np.stack(expected).astype(np.float64)
    clean = as_hwc(images_uint8).astype(np.float64)
    ours = as_hwc(corrupt(images_uint8.float() / 255, "jpeg_compression", severity)).astype(np.float64) * 255
    assert np.abs(ours - expected).mean() < 2.0  # gray levels
    assert np.abs(ours - clean).mean() == pytest.approx(np.abs(expected - clean).mean(), rel=0.05)


@pytest.mark.parametrize("severity", range(1, 6))
def test_motion_blur_matches_the_numpy_reimplementation(images, severity):
    radius, sigma = ((6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5))[severity - 1]

    def shift(image, dx, dy):  # imagenet_c's shift with edge replication
        rows = np.clip(np.arange(image.shape[0]) - dy, 0, image.shape[0] - 1)
        cols = np.clip(np.arange(image.shape[1]) - dx, 0, image.shape[1] - 1)
        return image[rows][:, cols]

    def motion_blur(image, angle):
        width = radius * 2 + 1
        kernel = np.exp(-np.arange(width) ** 2 / (2 * sigma**2))
        kernel /= kernel.sum()
        out = np.zeros_like(image)
        for i in range(width):
            dy = -math.ceil(i * np.sin(np.deg2rad(angle)) - 0.5)
            dx = -math.ceil(i * np.cos(np.deg2rad(angle)) - 0.5)
            out += kernel[i] * shift(image, dx, dy)
        return out

    # the implementation draws one angle per image, first thing, from the seeded generator
    angles = (torch.rand(len(images), generator=torch.Generator().manual_seed(7), dtype=torch.float64) * 90 - 45)
    expected = [motion_blur(image, angle) for image, angle in zip(as_hwc(images), angles.tolist())]
    assert np.allclose(as_hwc(corrupt(images, "motion_blur", severity, seed=7)), np.clip(expected, 0, 1), atol=1e-9)


def test_glass_blur_distorts_like_the_original_loop(images):
    """The original's swap through numpy views only copies, so a sweep is a random gather: same statistics."""

    def original(image, sigma, max_delta, iterations, rng):
        blur = lambda a: ndimage.gaussian_filter(a, sigma=(sigma, sigma, 0), mode="nearest")  # noqa: E731
        x = np.uint8(blur(image) * 255)
        for _ in range(iterations):
            for h in range(32 - max_delta, max_delta, -1):
                for w in range(32 - max_delta, max_delta, -1):
                    dx, dy = rng.integers(-max_delta, max_delta, size=(2,))
                    x[h, w], x[h + dy, w + dx] = x[h + dy, w + dx], x[h, w]
        return np.clip(blur(x / 255.0), 0, 1)

    rng = np.random.default_rng(0)
    for severity, constants in ((2, (0.25, 1, 1)), (5, (0.4, 1, 2))):
        expected = np.mean([np.abs(original(im, *constants, rng) - im).mean() for im in as_hwc(images)])
        ours = (corrupt(images, "glass_blur", severity, seed=0) - images).abs().mean().item()
        assert ours == pytest.approx(expected, rel=0.1)
