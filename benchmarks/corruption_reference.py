"""The CIFAR-10-C recipes of Hendrycks & Dietterich (make_cifar_c.py), one image at a time, as the reference that
benchmarks/corruption_fidelity.py and corruption_throughput.py measure actsearch's batched corruptions against.

Written from the published recipes and their CIFAR constants with the libraries they used: numpy's global random
stream, OpenCV, scikit-image, scipy, PIL, and Wand (ImageMagick's MagickMotionBlurImage) for motion_blur and snow.
Changes forced by today's libraries only: ``gaussian(..., multichannel=True)`` is ``channel_axis=-1``,
``np.float_`` is ``np.float64``, ``np.fromstring`` is ``np.frombuffer``, ``random_noise`` draws from a generator
seeded from numpy's global stream. The frost textures are read from the ``imagecorruptions`` package (the
original files). Each function takes a uint8 (32, 32, 3) RGB array and returns float values in [0, 255]
(before the script's final ``np.uint8`` cast).

Needs: pip install imagecorruptions Wand, and ImageMagick's library (Debian: libmagickwand-6.q16-6).
"""

from __future__ import annotations

import ctypes
import io
from importlib import util

import cv2
import numpy as np
import skimage as sk
from PIL import Image
from scipy.ndimage import map_coordinates
from scipy.ndimage import zoom as scipy_zoom
from skimage.filters import gaussian
from wand.api import library as wand_library
from wand.image import Image as WandImage

__all__ = ["REFERENCE", "reference_corrupt"]

wand_library.MagickMotionBlurImage.argtypes = (ctypes.c_void_p, ctypes.c_double, ctypes.c_double, ctypes.c_double)


def _wand_motion_blur(image: np.ndarray, radius: float, sigma: float, angle: float) -> np.ndarray:
    """PNG in, ImageMagick motion blur, PNG out, as the original: uint8 (H, W, 3) RGB or (H, W) gray, whichever
    ImageMagick chose to write."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    with WandImage(blob=buffer.getvalue()) as wand:
        wand_library.MagickMotionBlurImage(wand.wand, radius, sigma, angle)
        blob = wand.make_blob()
    out = cv2.imdecode(np.frombuffer(blob, np.uint8), cv2.IMREAD_UNCHANGED)
    if out.ndim == 3:
        return out[..., [2, 1, 0]]
    return out


def _disk(radius: float, alias_blur: float) -> np.ndarray:
    offsets = np.arange(-8, 9)
    grid_x, grid_y = np.meshgrid(offsets, offsets)
    disk = np.array(grid_x**2 + grid_y**2 <= radius**2, dtype=np.float32)
    disk /= disk.sum()
    return cv2.GaussianBlur(disk, ksize=(3, 3), sigmaX=alias_blur)


def _plasma_fractal(wibbledecay: float, mapsize: int = 32) -> np.ndarray:
    heights = np.empty((mapsize, mapsize), dtype=np.float64)
    heights[0, 0] = 0
    step, wibble = mapsize, 100.0

    def wibbled_mean(total):
        return total / 4 + wibble * np.random.uniform(-wibble, wibble, total.shape)

    while step >= 2:
        half = step // 2
        corners = heights[0:mapsize:step, 0:mapsize:step]
        squares = corners + np.roll(corners, -1, axis=0)
        squares += np.roll(squares, -1, axis=1)
        heights[half:mapsize:step, half:mapsize:step] = wibbled_mean(squares)
        centres = heights[half:mapsize:step, half:mapsize:step]
        corners = heights[0:mapsize:step, 0:mapsize:step]
        left = centres + np.roll(centres, 1, axis=0) + corners + np.roll(corners, -1, axis=1)
        heights[0:mapsize:step, half:mapsize:step] = wibbled_mean(left)
        top = centres + np.roll(centres, 1, axis=1) + corners + np.roll(corners, -1, axis=0)
        heights[half:mapsize:step, 0:mapsize:step] = wibbled_mean(top)
        step //= 2
        wibble /= wibbledecay
    heights -= heights.min()
    return heights / heights.max()


def _clipped_zoom(image: np.ndarray, zoom: float) -> np.ndarray:
    size = image.shape[0]
    crop = int(np.ceil(size / zoom))
    top = (size - crop) // 2
    zoomed = scipy_zoom(image[top : top + crop, top : top + crop], (zoom, zoom, 1), order=1)
    trim = (zoomed.shape[0] - size) // 2
    return zoomed[trim : trim + size, trim : trim + size]


def gaussian_noise(x, severity):
    c = (0.04, 0.06, 0.08, 0.09, 0.10)[severity - 1]
    x = x / 255.0
    return np.clip(x + np.random.normal(size=x.shape, scale=c), 0, 1) * 255


def shot_noise(x, severity):
    c = (500, 250, 100, 75, 50)[severity - 1]
    return np.clip(np.random.poisson(x / 255.0 * c) / c, 0, 1) * 255


def impulse_noise(x, severity):
    c = (0.01, 0.02, 0.03, 0.05, 0.07)[severity - 1]
    noisy = sk.util.random_noise(x / 255.0, mode="s&p", amount=c, rng=np.random.randint(2**31))
    return np.clip(noisy, 0, 1) * 255


def speckle_noise(x, severity):
    c = (0.06, 0.10, 0.12, 0.16, 0.20)[severity - 1]
    x = x / 255.0
    return np.clip(x + x * np.random.normal(size=x.shape, scale=c), 0, 1) * 255


def gaussian_blur(x, severity):
    c = (0.4, 0.6, 0.7, 0.8, 1.0)[severity - 1]
    return np.clip(gaussian(x / 255.0, sigma=c, channel_axis=-1), 0, 1) * 255


def glass_blur(x, severity):
    sigma, delta, iterations = ((0.05, 1, 1), (0.25, 1, 1), (0.4, 1, 1), (0.25, 1, 2), (0.4, 1, 2))[severity - 1]
    x = np.uint8(gaussian(x / 255.0, sigma=sigma, channel_axis=-1) * 255)
    for _ in range(iterations):
        for h in range(32 - delta, delta, -1):
            for w in range(32 - delta, delta, -1):
                dx, dy = np.random.randint(-delta, delta, size=(2,))
                x[h, w], x[h + dy, w + dx] = x[h + dy, w + dx], x[h, w]
    return np.clip(gaussian(x / 255.0, sigma=sigma, channel_axis=-1), 0, 1) * 255


def defocus_blur(x, severity):
    radius, alias_blur = ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1))[severity - 1]
    kernel = _disk(radius, alias_blur)
    x = (x / 255.0).astype(np.float64)
    channels = np.stack([cv2.filter2D(x[:, :, d], -1, kernel) for d in range(3)], axis=-1)
    return np.clip(channels, 0, 1) * 255


def motion_blur(x, severity):
    radius, sigma = ((6, 1), (6, 1.5), (6, 2), (8, 2), (9, 2.5))[severity - 1]
    out = _wand_motion_blur(x, radius, sigma, np.random.uniform(-45, 45))
    if out.ndim == 2:  # ImageMagick writes a gray PNG when the channels agree, as the original handles
        out = np.stack([out] * 3, axis=-1)
    return np.clip(out, 0, 255).astype(np.float64)


def zoom_blur(x, severity):
    stop = (1.06, 1.11, 1.16, 1.21, 1.26)[severity - 1]
    x = (x / 255.0).astype(np.float32)
    zooms = np.arange(1, stop, 0.01)
    out = np.zeros_like(x)
    for zoom in zooms:
        out += _clipped_zoom(x, zoom)
    return np.clip((x + out) / (len(zooms) + 1), 0, 1) * 255


def snow(x, severity):
    loc, scale, zoom, threshold, radius, sigma, blend = (
        (0.1, 0.2, 1, 0.6, 8, 3, 0.95), (0.1, 0.2, 1, 0.5, 10, 4, 0.9), (0.15, 0.3, 1.75, 0.55, 10, 4, 0.9),
        (0.25, 0.3, 2.25, 0.6, 12, 6, 0.85), (0.3, 0.3, 1.25, 0.65, 14, 12, 0.8))[severity - 1]
    x = x.astype(np.float32) / 255.0
    layer = np.random.normal(size=x.shape[:2], loc=loc, scale=scale)
    layer = _clipped_zoom(layer[..., np.newaxis], zoom)
    layer[layer < threshold] = 0
    layer = (np.clip(layer.squeeze(), 0, 1) * 255).astype(np.uint8)
    layer = _wand_motion_blur(layer, radius, sigma, np.random.uniform(-135, -45)) / 255.0
    layer = layer[..., np.newaxis]
    gray = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY).reshape(32, 32, 1)
    x = blend * x + (1 - blend) * np.maximum(x, gray * 1.5 + 0.5)
    return np.clip(x + layer + np.rot90(layer, k=2), 0, 1) * 255


_FROST_FILES = ("frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg", "frost6.jpg")


def frost(x, severity):
    dim, strength = ((1, 0.2), (1, 0.3), (0.9, 0.4), (0.85, 0.4), (0.75, 0.45))[severity - 1]
    folder = util.find_spec("imagecorruptions").submodule_search_locations[0]
    texture = cv2.imread(f"{folder}/frost/{_FROST_FILES[np.random.randint(5)]}")
    texture = cv2.resize(texture, (0, 0), fx=0.2, fy=0.2)
    top, left = np.random.randint(0, texture.shape[0] - 32), np.random.randint(0, texture.shape[1] - 32)
    texture = texture[top : top + 32, left : left + 32][..., [2, 1, 0]]
    return np.clip(dim * x.astype(np.float64) + strength * texture, 0, 255)


def fog(x, severity):
    strength, wibbledecay = ((0.2, 3), (0.5, 3), (0.75, 2.5), (1, 2), (1.5, 1.75))[severity - 1]
    x = x / 255.0
    peak = x.max()
    x = x + strength * _plasma_fractal(wibbledecay)[:32, :32][..., np.newaxis]
    return np.clip(x * peak / (peak + strength), 0, 1) * 255


def brightness(x, severity):
    c = (0.05, 0.1, 0.15, 0.2, 0.3)[severity - 1]
    hsv = sk.color.rgb2hsv(x / 255.0)
    hsv[:, :, 2] = np.clip(hsv[:, :, 2] + c, 0, 1)
    return np.clip(sk.color.hsv2rgb(hsv), 0, 1) * 255


def saturate(x, severity):
    factor, offset = ((0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2))[severity - 1]
    hsv = sk.color.rgb2hsv(x / 255.0)
    hsv[:, :, 1] = np.clip(hsv[:, :, 1] * factor + offset, 0, 1)
    return np.clip(sk.color.hsv2rgb(hsv), 0, 1) * 255


def contrast(x, severity):
    c = (0.75, 0.5, 0.4, 0.3, 0.15)[severity - 1]
    x = x / 255.0
    means = x.mean(axis=(0, 1), keepdims=True)
    return np.clip((x - means) * c + means, 0, 1) * 255


def elastic_transform(x, severity):
    alpha, sigma, affine = (32 * f for f in ((0, 0, 0.08), (0.05, 0.2, 0.07), (0.08, 0.06, 0.06),
                                              (0.1, 0.04, 0.05), (0.1, 0.03, 0.03))[severity - 1])
    image = x.astype(np.float32) / 255.0
    centre, square = np.float32((32, 32)) // 2, 32 // 3
    points = np.float32([centre + square, [centre[0] + square, centre[1] - square], centre - square])
    moved = points + np.random.uniform(-affine, affine, size=points.shape).astype(np.float32)
    image = cv2.warpAffine(image, cv2.getAffineTransform(points, moved), (32, 32), borderMode=cv2.BORDER_REFLECT_101)
    dx = (gaussian(np.random.uniform(-1, 1, size=(32, 32)), sigma, mode="reflect", truncate=3) * alpha).astype(
        np.float32)
    dy = (gaussian(np.random.uniform(-1, 1, size=(32, 32)), sigma, mode="reflect", truncate=3) * alpha).astype(
        np.float32)
    grid_x, grid_y, grid_z = np.meshgrid(np.arange(32), np.arange(32), np.arange(3))
    indices = (np.reshape(grid_y + dy[..., None], (-1, 1)), np.reshape(grid_x + dx[..., None], (-1, 1)),
               np.reshape(grid_z, (-1, 1)))
    return np.clip(map_coordinates(image, indices, order=1, mode="reflect").reshape(image.shape), 0, 1) * 255


def pixelate(x, severity):
    c = (0.95, 0.9, 0.85, 0.75, 0.65)[severity - 1]
    image = Image.fromarray(x).resize((int(32 * c), int(32 * c)), Image.BOX).resize((32, 32), Image.BOX)
    return np.asarray(image).astype(np.float64)


def jpeg_compression(x, severity):
    quality = (80, 65, 58, 50, 40)[severity - 1]
    buffer = io.BytesIO()
    Image.fromarray(x).save(buffer, "JPEG", quality=quality)
    return np.asarray(Image.open(buffer)).astype(np.float64)


def spatter(x, severity):
    loc, scale, sigma, threshold, intensity, mud = (
        (0.62, 0.1, 0.7, 0.7, 0.5, 0), (0.65, 0.1, 0.8, 0.7, 0.5, 0), (0.65, 0.3, 1, 0.69, 0.5, 0),
        (0.65, 0.1, 0.7, 0.69, 0.6, 1), (0.65, 0.1, 0.5, 0.68, 0.6, 1))[severity - 1]
    x = x.astype(np.float32) / 255.0
    liquid = gaussian(np.random.normal(size=x.shape[:2], loc=loc, scale=scale), sigma=sigma)
    liquid[liquid < threshold] = 0
    if not mud:
        drops = (liquid * 255).astype(np.uint8)
        distance = cv2.distanceTransform(255 - cv2.Canny(drops, 50, 150), cv2.DIST_L2, 5)
        _, distance = cv2.threshold(distance, 20, 20, cv2.THRESH_TRUNC)
        distance = cv2.equalizeHist(cv2.blur(distance, (3, 3)).astype(np.uint8))
        distance = cv2.filter2D(distance, cv2.CV_8U, np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]))
        distance = cv2.blur(distance, (3, 3)).astype(np.float32)
        layer = cv2.cvtColor(drops * distance, cv2.COLOR_GRAY2BGRA)
        layer /= np.max(layer, axis=(0, 1))
        layer *= intensity
        colour = cv2.cvtColor(np.broadcast_to(np.float32([175, 238, 238]) / 255, x.shape).copy(), cv2.COLOR_BGR2BGRA)
        x = cv2.cvtColor(x, cv2.COLOR_BGR2BGRA)
        return cv2.cvtColor(np.clip(x + layer * colour, 0, 1), cv2.COLOR_BGRA2BGR) * 255
    mask = gaussian(np.where(liquid > threshold, 1, 0).astype(np.float32), sigma=intensity)
    mask[mask < 0.8] = 0
    colour = np.float32([63, 42, 20]) / 255 * mask[..., np.newaxis]
    return np.clip(x * (1 - mask[..., np.newaxis]) + colour, 0, 1) * 255


REFERENCE = {f.__name__: f for f in (
    gaussian_noise, shot_noise, impulse_noise, defocus_blur, glass_blur, motion_blur, zoom_blur, snow, frost, fog,
    brightness, contrast, elastic_transform, pixelate, jpeg_compression, speckle_noise, gaussian_blur, spatter,
    saturate)}
"""make_cifar_c.py's corruptions by name, in the release's order."""


def reference_corrupt(images: np.ndarray, name: str, severity: int, seed: int = 0) -> np.ndarray:
    """``REFERENCE[name]`` over uint8 (N, 32, 32, 3) images, numpy's global stream seeded with ``seed``:
    float64 (N, 32, 32, 3) values in [0, 255]."""
    np.random.seed(seed)
    return np.stack([np.asarray(REFERENCE[name](image, severity), dtype=np.float64) for image in images])
