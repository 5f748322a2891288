"""Read the official CIFAR-10-C / CIFAR-100-C release (Hendrycks & Dietterich).

A release folder holds ``<corruption>.npy`` files of uint8 images, shape (5 * n, 32, 32, 3) with the
five severities in order (n = 10,000 in the official files), and ``labels.npy`` (the labels, repeated
for every severity, or given once). Files are memory-mapped, so reading one severity touches only its
block.

    >>> from actsearch.trainers.cifar_c import load_cifar_c
    >>> images, labels = load_cifar_c("data/CIFAR-10-C", "fog", severity=3)  # doctest: +SKIP
    >>> images.shape, images.dtype  # doctest: +SKIP
    (torch.Size([10000, 3, 32, 32]), torch.uint8)
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from actsearch.errors import ConfigError

__all__ = ["CIFAR_C_CATEGORIES", "CIFAR_C_CORRUPTIONS", "cifar_c_corruptions", "load_cifar_c"]

CIFAR_C_CATEGORIES: dict[str, tuple[str, ...]] = {
    "noise": ("gaussian_noise", "shot_noise", "impulse_noise"),
    "blur": ("defocus_blur", "glass_blur", "motion_blur", "zoom_blur"),
    "weather": ("snow", "frost", "fog", "brightness"),
    "digital": ("contrast", "elastic_transform", "pixelate", "jpeg_compression"),
    "extra": ("speckle_noise", "gaussian_blur", "spatter", "saturate"),
}
"""The release's 19 corruptions: the 15 benchmark ones in four categories, and 4 extra."""

CIFAR_C_CORRUPTIONS: tuple[str, ...] = tuple(name for names in CIFAR_C_CATEGORIES.values() for name in names)

_DOWNLOAD = (
    "download CIFAR-10-C from https://zenodo.org/records/2535967 (CIFAR-10-C.tar) or CIFAR-100-C from "
    "https://zenodo.org/records/3555552 (CIFAR-100-C.tar) and extract it"
)


def cifar_c_corruptions(folder: str | os.PathLike) -> list[str]:
    """The corruptions whose ``<corruption>.npy`` file is in ``folder`` (release order)."""
    root = _check_folder(folder)
    return [name for name in CIFAR_C_CORRUPTIONS if (root / f"{name}.npy").is_file()]


def load_cifar_c(
    folder: str | os.PathLike, corruption: str, severity: int, *, limit: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (uint8, N x 3 x 32 x 32) and labels (int64, N) of one corruption at one severity (1..5).

    ``limit`` keeps the first ``limit`` images of the severity block.
    """
    root = _check_folder(folder)
    if corruption not in CIFAR_C_CORRUPTIONS:
        raise ConfigError(f"unknown CIFAR-C corruption {corruption!r}; allowed: {', '.join(CIFAR_C_CORRUPTIONS)}")
    if isinstance(severity, bool) or not isinstance(severity, int) or not 1 <= severity <= 5:
        raise ConfigError(f"CIFAR-C severity must be an integer 1..5, got {severity!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ConfigError(f"limit must be a positive integer or None, got {limit!r}")
    images = _open(root, f"{corruption}.npy")
    labels = _open(root, "labels.npy")
    if images.ndim != 4 or images.shape[1:] != (32, 32, 3) or images.dtype != np.uint8 or len(images) % 5:
        raise ConfigError(
            f"{root / (corruption + '.npy')}: expected uint8 images of shape (5 * n, 32, 32, 3), severities in "
            f"blocks of n, got {images.dtype} {images.shape}"
        )
    per_severity = len(images) // 5
    if labels.ndim != 1 or len(labels) not in (len(images), per_severity):
        raise ConfigError(
            f"{root / 'labels.npy'}: expected {len(images)} or {per_severity} labels to match "
            f"{corruption}.npy, got shape {labels.shape}"
        )
    count = per_severity if limit is None else min(limit, per_severity)
    start = (severity - 1) * per_severity
    block = np.array(images[start : start + count])  # reads the block out of the memory map
    label_start = start if len(labels) == len(images) else 0
    label_block = np.array(labels[label_start : label_start + count], dtype=np.int64)
    return torch.from_numpy(block).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(label_block)


def _check_folder(folder: str | os.PathLike) -> Path:
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise ConfigError(
            f"CIFAR-C folder {str(root)!r} does not exist; expected a folder with <corruption>.npy files "
            f"(e.g. gaussian_noise.npy, fog.npy) and labels.npy; {_DOWNLOAD}"
        )
    return root


def _open(root: Path, filename: str) -> np.ndarray:
    path = root / filename
    if not path.is_file():
        present = sorted(p.name for p in root.glob("*.npy"))
        raise ConfigError(
            f"CIFAR-C file {str(path)!r} not found (present in the folder: {', '.join(present) or 'no .npy files'}); "
            f"expected <corruption>.npy for {', '.join(CIFAR_C_CORRUPTIONS)}, and labels.npy; {_DOWNLOAD}"
        )
    try:
        return np.load(path, mmap_mode="r")
    except ValueError as error:
        raise ConfigError(f"{path}: not a readable .npy array ({error}); {_DOWNLOAD}") from error
