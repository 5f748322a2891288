"""Read, and download when asked, the official CIFAR-10-C / CIFAR-100-C release (Hendrycks & Dietterich).

A release folder holds ``<corruption>.npy`` files of uint8 images, shape (5 * n, 32, 32, 3) with the
five severities in order (n = 10,000 in the official files), and ``labels.npy`` (the labels, repeated
for every severity, or given once). Files are memory-mapped, so reading one severity touches only its
block.

    >>> from actsearch.trainers.cifar_c import load_cifar_c
    >>> images, labels = load_cifar_c("data/CIFAR-10-C", "fog", severity=3)  # doctest: +SKIP
    >>> images.shape, images.dtype  # doctest: +SKIP
    (torch.Size([10000, 3, 32, 32]), torch.uint8)

:func:`find_cifar_c` gives the release folder for a task's dataset under its data root (``CIFAR-10-C`` or
``CIFAR-100-C``), downloading the archive from Zenodo with torchvision's utilities (MD5-checked, about 2.9 GB,
extracted in place) only when asked.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from urllib.error import URLError

import numpy as np
import torch
from torchvision.datasets.utils import download_and_extract_archive

from actsearch.errors import ConfigError
from actsearch.trainers.corruptions import CORRUPTION_CATEGORIES

__all__ = ["CIFAR_C_ARCHIVES", "CIFAR_C_CATEGORIES", "CIFAR_C_CORRUPTIONS", "CifarCArchive", "cifar_c_corruptions",
           "cifar_c_for_task", "download_cifar_c", "find_cifar_c", "load_cifar_c"]

CIFAR_C_CATEGORIES: dict[str, tuple[str, ...]] = dict(CORRUPTION_CATEGORIES)
"""The release's 19 corruptions: the 15 benchmark ones in four categories, and 4 extra."""


@dataclasses.dataclass(frozen=True)
class CifarCArchive:
    """Where one release lives on Zenodo, and the folder its tar archive extracts to."""

    folder: str
    url: str
    md5: str


CIFAR_C_ARCHIVES: dict[str, CifarCArchive] = {
    "cifar10": CifarCArchive("CIFAR-10-C", "https://zenodo.org/records/2535967/files/CIFAR-10-C.tar",
                             "56bf5dcef84df0e2308c6dcbcbbd8499"),
    "cifar100": CifarCArchive("CIFAR-100-C", "https://zenodo.org/records/3555552/files/CIFAR-100-C.tar",
                              "11f0ed0f1191edbf9fa23466ae6021d3"),
}
"""The official archives by the clean dataset they corrupt (Zenodo records 2535967 and 3555552, MD5 as listed)."""

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


def cifar_c_for_task(task) -> Path:
    """The release folder for a :class:`~actsearch.trainers.Task` with ``corruptions: cifar-c``: its dataset,
    under its data root, downloaded if ``task.download``; the files are 32x32, so ``image_size`` must be too."""
    if task.image_size not in (None, 32):
        raise ConfigError(f"task.image_size = {task.image_size} but the official CIFAR-C images are 32x32; leave "
                          "image_size unset (or 32) to score them, or use generated corruptions")
    return find_cifar_c(task.dataset, task.root, download=task.download)


def find_cifar_c(dataset: str, root: str | os.PathLike, *, download: bool = False) -> Path:
    """The CIFAR-C release folder for ``dataset`` (cifar10 or cifar100) under ``root``, e.g. ``root/CIFAR-10-C``.

    A folder is complete when it holds labels.npy and the 19 ``<corruption>.npy`` files. An incomplete one is
    downloaded (:func:`download_cifar_c`) when ``download`` is true; otherwise a
    :class:`~actsearch.errors.ConfigError` names the folder it looked in, what is missing and how to get it.
    """
    if dataset not in CIFAR_C_ARCHIVES:
        raise ConfigError(f"the official CIFAR-C files exist for {' and '.join(CIFAR_C_ARCHIVES)} only, not for "
                          f"dataset {dataset!r}; use generated corruptions ('all', a category or names) instead")
    archive = CIFAR_C_ARCHIVES[dataset]
    folder = Path(root).expanduser() / archive.folder
    missing = _missing_files(folder)
    if missing and download:
        download_cifar_c(dataset, root)
        missing = _missing_files(folder)
    if missing:
        what = "does not exist" if not folder.is_dir() else f"lacks {', '.join(missing)}"
        raise ConfigError(
            f"CIFAR-C folder {str(folder)!r} {what}; get the files with `download: true` in the study's task "
            f"section, `--download` on the command line or Task(download=True) (about 2.9 GB from {archive.url}), "
            f"or extract {archive.url.rsplit('/', 1)[1]} into {str(folder.parent)!r} yourself"
        )
    return folder


def download_cifar_c(dataset: str, root: str | os.PathLike) -> Path:
    """Download the official archive for ``dataset`` into ``root``, check its MD5, extract it and delete the
    tar; returns the release folder. Uses ``torchvision.datasets.utils.download_and_extract_archive``."""
    if dataset not in CIFAR_C_ARCHIVES:
        raise ConfigError(f"no CIFAR-C archive for dataset {dataset!r}; allowed: {', '.join(CIFAR_C_ARCHIVES)}")
    archive = CIFAR_C_ARCHIVES[dataset]
    root = Path(root).expanduser()
    filename = archive.url.rsplit("/", 1)[1]
    try:
        download_and_extract_archive(archive.url, download_root=str(root), filename=filename, md5=archive.md5,
                                     remove_finished=True)
    except (URLError, OSError, RuntimeError) as error:
        raise ConfigError(f"could not download {archive.url} into {str(root)!r} ({error}); download it by hand "
                          f"(MD5 {archive.md5}) and extract it there") from error
    return root / archive.folder


def _missing_files(folder: Path) -> list[str]:
    names = ["labels.npy", *(f"{name}.npy" for name in CIFAR_C_CORRUPTIONS)]
    return [name for name in names if not (folder / name).is_file()]


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
