"""The batched corruptions against the original CIFAR-C recipes (make_cifar_c.py's constants), written here
with PIL, scipy and numpy, and OpenCV where installed; the random ones are fed the same draws."""

from __future__ import annotations

import importlib.util
import io
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from actsearch.trainers.corruptions import corrupt
from actsearch.trainers.corruptions.frost import frost_textures
from actsearch.trainers.corruptions.spatter import canny, chamfer_distance, equalize_histogram

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


def clipped_zoom(image, zoom):
    """make_cifar_c.py's clipped_zoom: centre crop, scipy order-1 zoom, centre trim."""
    size = image.shape[0]
    crop = int(np.ceil(size / zoom))
    top = (size - crop) // 2
    zoomed = ndimage.zoom(image[top : top + crop, top : top + crop], (zoom, zoom, 1), order=1)
    trim = (zoomed.shape[0] - size) // 2
    return zoomed[trim : trim + size, trim : trim + size]


def streaks(image, radius, sigma, angle):
    """imagenet_c's numpy motion blur (ImageMagick's kernel): 2 radius + 1 shifted copies, edges replicated."""

    def shift(image, dx, dy):
        rows = np.clip(np.arange(image.shape[0]) - dy, 0, image.shape[0] - 1)
        cols = np.clip(np.arange(image.shape[1]) - dx, 0, image.shape[1] - 1)
        return image[rows][:, cols]

    width = radius * 2 + 1
    kernel = np.exp(-np.arange(width) ** 2 / (2 * sigma**2))
    kernel /= kernel.sum()
    out = np.zeros_like(image, dtype=np.float64)
    for i in range(width):
        dy = -math.ceil(i * np.sin(np.deg2rad(angle)) - 0.5)
        dx = -math.ceil(i * np.cos(np.deg2rad(angle)) - 0.5)
        out += kernel[i] * shift(image, dx, dy)
    return out


@pytest.mark.parametrize("severity", range(1, 6))
def test_gaussian_blur_matches_scipy(images, severity):
    sigma = (0.4, 0.6, 0.7, 0.8, 1.0)[severity - 1]
    expected = ndimage.gaussian_filter(images.numpy(), sigma=(0, 0, sigma, sigma), mode="nearest")
    assert np.allclose(corrupt(images, "gaussian_blur", severity).numpy(), expected, atol=1e-9)


@pytest.mark.parametrize("severity", range(1, 6))
def test_zoom_blur_matches_scipy_clipped_zoom(images, severity):
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
def test_jpeg_matches_pil(images_uint8, severity):
    quality = (80, 65, 58, 50, 40)[severity - 1]
    expected = []
    for image in as_hwc(images_uint8):
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, "JPEG", quality=quality)
        expected.append(np.asarray(Image.open(buffer)))
    expected = np.stack(expected).astype(np.float64)
    ours = as_hwc(corrupt(images_uint8.float() / 255, "jpeg_compression", severity)).astype(np.float64) * 255
    assert np.abs(ours - expected).max() < 1e-3  # the same libjpeg settings: identical pixels


@pytest.mark.parametrize("severity", range(1, 6))
def test_motion_blur_matches_the_numpy_reimplementation(images, severity):
    radius, sigma = ((6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5))[severity - 1]
    # the implementation draws one angle per image, first thing, from the seeded generator
    angles = (torch.rand(len(images), generator=torch.Generator().manual_seed(7), dtype=torch.float64) * 90 - 45)
    expected = [streaks(image, radius, sigma, angle) for image, angle in zip(as_hwc(images), angles.tolist())]
    truncated = np.floor(np.clip(expected, 0, 1) * 255 + 1e-3) / 255  # ImageMagick's 8-bit output
    assert np.abs(as_hwc(corrupt(images, "motion_blur", severity, seed=7)) - truncated).max() < 1e-9


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


SNOW = ((0.1, 0.2, 1, 0.6, 8, 3, 0.95), (0.1, 0.2, 1, 0.5, 10, 4, 0.9), (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
        (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85), (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8))
FROST = ((1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45))
SPATTER = ((0.62, 0.1, 0.7, 0.7, 0.5, 0), (0.65, 0.1, 0.8, 0.7, 0.5, 0), (0.65, 0.3, 1, 0.69, 0.5, 0),
           (0.65, 0.1, 0.7, 0.69, 0.6, 1), (0.65, 0.1, 0.5, 0.68, 0.6, 1))


@pytest.mark.parametrize("severity", range(1, 6))
def test_snow_follows_the_recipe_given_the_same_draws(images_uint8, severity):
    loc, scale, zoom, threshold, radius, sigma, blend = SNOW[severity - 1]
    images = images_uint8.double() / 255
    generator = torch.Generator().manual_seed(3)  # snow draws the noise layers, then one angle per image
    layers = torch.randn((8, 1, 32, 32), generator=generator, dtype=torch.float64)[:, 0].numpy() * scale + loc
    angles = (torch.rand(8, generator=generator, dtype=torch.float64) * 90 - 135).tolist()
    expected = []
    for image, layer, angle in zip(as_hwc(images), layers, angles):
        layer = clipped_zoom(layer[..., None], zoom)[..., 0]
        layer[layer < threshold] = 0
        layer = np.floor(np.clip(layer, 0, 1) * 255)  # the PNG's uint8
        layer = np.floor(streaks(layer, radius, sigma, angle) + 1e-3)[..., None] / 255  # ImageMagick's 8 bits
        gray = (image @ np.array([0.299, 0.587, 0.114]))[..., None]
        whitened = blend * image + (1 - blend) * np.maximum(image, gray * 1.5 + 0.5)
        expected.append(np.clip(whitened + layer + np.rot90(layer, k=2), 0, 1))
    assert np.abs(as_hwc(corrupt(images, "snow", severity, seed=3)) - np.stack(expected)).max() < 1e-6


@pytest.mark.parametrize("severity", range(1, 6))
def test_frost_blends_a_crop_of_the_textures_given_the_same_draws(images, severity):
    dim, strength = FROST[severity - 1]
    textures = [texture.permute(1, 2, 0).double().numpy() / 255 for texture in frost_textures()]
    generator = torch.Generator().manual_seed(5)  # frost draws a texture per image, then its crop position
    index = torch.randint(0, 5, (8,), generator=generator).tolist()
    fractions = torch.rand((8, 2), generator=generator, dtype=torch.float64).numpy()
    expected = []
    for image, which, (fy, fx) in zip(as_hwc(images), index, fractions):
        texture = textures[which]
        top, left = int(fy * (texture.shape[0] - 32)), int(fx * (texture.shape[1] - 32))
        expected.append(np.clip(dim * image + strength * texture[top : top + 32, left : left + 32], 0, 1))
    assert np.abs(as_hwc(corrupt(images, "frost", severity, seed=5)) - np.stack(expected)).max() < 1e-6


def test_the_shipped_frost_textures_are_the_originals_resized_by_a_fifth():
    cv2 = pytest.importorskip("cv2")
    spec = importlib.util.find_spec("imagecorruptions")  # found, not imported: importing needs pkg_resources
    if spec is None:
        pytest.skip("the imagecorruptions package (the original frost images) is not installed")
    folder = Path(spec.submodule_search_locations[0]) / "frost"
    names = ("frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg")
    for name, texture in zip(names, frost_textures(), strict=True):
        original = cv2.resize(cv2.imread(str(folder / name)), (0, 0), fx=0.2, fy=0.2)[..., ::-1]
        assert np.array_equal(texture.permute(1, 2, 0).numpy(), original), name


def spatter_liquid(severity: int, seed: int, count: int = 8) -> np.ndarray:
    """The smoothed, thresholded liquid layers spatter draws first (scipy's gaussian_filter = skimage's)."""
    loc, scale, sigma, threshold, _, _ = SPATTER[severity - 1]
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn((count, 1, 32, 32), generator=generator, dtype=torch.float64)[:, 0].numpy() * scale + loc
    liquid = np.stack([ndimage.gaussian_filter(layer, sigma, mode="nearest", truncate=4.0) for layer in noise])
    liquid[liquid < threshold] = 0
    return liquid


@pytest.mark.parametrize("severity", (4, 5))
def test_mud_spatter_follows_the_recipe_given_the_same_draws(images, severity):
    threshold, intensity = SPATTER[severity - 1][3:5]
    expected = []
    for image, liquid in zip(as_hwc(images), spatter_liquid(severity, seed=2)):
        mask = ndimage.gaussian_filter((liquid > threshold).astype(np.float64), intensity, mode="nearest")
        mask[mask < 0.8] = 0
        mud = np.array([63, 42, 20]) / 255 * mask[..., None]
        expected.append(np.clip(image * (1 - mask[..., None]) + mud, 0, 1))
    assert np.abs(as_hwc(corrupt(images, "spatter", severity, seed=2)) - np.stack(expected)).max() < 1e-6


def opencv_relief(drops: np.ndarray, cv2) -> np.ndarray:
    """make_cifar_c.py's water relief from uint8 drops, with OpenCV."""
    distance = cv2.distanceTransform(255 - cv2.Canny(drops, 50, 150), cv2.DIST_L2, 5)
    _, distance = cv2.threshold(distance, 20, 20, cv2.THRESH_TRUNC)
    distance = cv2.equalizeHist(cv2.blur(distance, (3, 3)).astype(np.uint8))
    distance = cv2.filter2D(distance, cv2.CV_8U, np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]))
    return cv2.blur(distance, (3, 3)).astype(np.float32)


@pytest.mark.parametrize("severity", (1, 2, 3))
def test_water_spatter_matches_opencv_given_the_same_draws(images, severity):
    cv2 = pytest.importorskip("cv2")
    intensity = SPATTER[severity - 1][4]
    expected = []
    for image, liquid in zip(as_hwc(images), spatter_liquid(severity, seed=4)):
        drops = (liquid * 255).astype(np.uint8)
        layer = drops * opencv_relief(drops, cv2).astype(np.float64)
        layer = layer / layer.max() * intensity
        water = np.array([175, 238, 238]) / 255
        expected.append(np.clip(image + layer[..., None] * water, 0, 1))
    assert np.abs(as_hwc(corrupt(images, "spatter", severity, seed=4)) - np.stack(expected)).max() < 1e-6


def test_canny_distance_and_equalization_match_opencv():
    cv2 = pytest.importorskip("cv2")
    drops = np.stack([(liquid * 255).astype(np.uint8) for liquid in spatter_liquid(3, seed=6, count=16)])
    batch = torch.from_numpy(drops).double()[:, None]
    edges = canny(batch, 50, 150)[:, 0].numpy()
    expected_edges = np.stack([cv2.Canny(d, 50, 150) > 0 for d in drops])
    assert np.array_equal(edges, expected_edges)
    distance = chamfer_distance(torch.from_numpy(expected_edges)[:, None], cap=20.0)[:, 0].numpy()
    expected_distance = np.stack([np.minimum(cv2.distanceTransform(255 - 255 * e.astype(np.uint8), cv2.DIST_L2, 5),
                                             20) for e in expected_edges])
    assert np.abs(distance - expected_distance).max() < 1e-3
    levels = np.random.default_rng(0).integers(3, 21, size=(4, 32, 32)).astype(np.uint8)
    equalized = equalize_histogram(torch.from_numpy(levels).double()[:, None])[:, 0].numpy()
    assert np.array_equal(equalized, np.stack([cv2.equalizeHist(level) for level in levels]))
