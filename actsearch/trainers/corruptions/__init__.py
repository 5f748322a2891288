"""CIFAR-C style image corruptions as batched, seeded tensor operations.

All 19 corruptions of Hendrycks & Dietterich's CIFAR-10-C (``make_cifar_c.py``) with its five severities.
Each takes float images in [0, 1] of shape (N, C, H, W), C in {1, 3}, any H and W, runs on the images'
device without a Python loop over the batch (jpeg_compression codes on the CPU), and returns images of the
same shape, dtype and device, clipped to [0, 1]. Randomness comes from a ``torch.Generator`` on that device,
so a seed fixes the corrupted set: every trial of a search sees the same images.

    >>> import torch
    >>> from actsearch.trainers.corruptions import corrupt, resolve_corruptions
    >>> images = torch.rand(4, 3, 32, 32)
    >>> foggy = corrupt(images, "fog", severity=3, seed=0)
    >>> torch.equal(foggy, corrupt(images, "fog", severity=3, seed=0))
    True
    >>> resolve_corruptions("noise")
    ['gaussian_noise', 'shot_noise', 'impulse_noise']

Where this departs from the original (each function's docstring says more; BENCHMARKS.md measures how far
each one is from a reference):

- The random streams are torch's, not numpy's: a seed does not reproduce the official CIFAR-10-C files
  (score those with ``corruptions: cifar-c``, see :mod:`actsearch.trainers.cifar_c`), and the same seed gives
  different images on the CPU and on CUDA.
- Constants defined in pixels for 32x32 images (blur sigmas and radii, glass blur's displacement, motion
  blur's length, snow's streaks, spatter's blobs, frost's texture scale) are scaled by ``min(H, W) / 32``;
  elastic_transform's are already relative to the size; pixelate and zoom_blur are relative by nature.
- 1-channel images: brightness adds to the gray value, saturate leaves them unchanged, frost and spatter
  use the gray value of their texture and colours.
- glass_blur does the original's sequential pixel sweep as one random displacement field per iteration
  (exact in distribution for the CIFAR constants); motion_blur and snow's streaks follow the numpy
  re-implementation of ImageMagick's motion blur (the CIFAR-C script called Wand).
- Some distortions are not monotone in severity by construction: saturate, glass_blur, elastic_transform,
  snow and spatter (spatter switches from water to mud at severity 4).
"""

from __future__ import annotations

# importing a corruption module registers its corruptions
from actsearch.trainers.corruptions import blur, digital, frost, noise, snow, spatter, weather  # noqa: F401
from actsearch.trainers.corruptions.registry import (
    CIFAR_C,
    CORRUPTION_CATEGORIES,
    CORRUPTIONS,
    SEVERITIES,
    Corruption,
    corrupt,
    expand_names,
    resolve_corruptions,
)

__all__ = ["CIFAR_C", "CORRUPTIONS", "CORRUPTION_CATEGORIES", "SEVERITIES", "Corruption", "corrupt", "expand_names",
           "resolve_corruptions"]

# registration follows the module imports; "all" and the registry list the release's order instead
_RELEASE_ORDER = [name for names in CORRUPTION_CATEGORIES.values() for name in names]
CORRUPTIONS.update({name: CORRUPTIONS.pop(name) for name in _RELEASE_ORDER})
