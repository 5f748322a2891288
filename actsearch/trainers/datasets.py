"""Dataset sources: each reads a dataset into uint8 NCHW tensors once (callers cache the result).

``DATASETS`` maps a name to its :class:`DatasetSource`:

- ``cifar10``, ``cifar100``, ``mnist``, ``fashion_mnist``, ``svhn``: torchvision's files under ``data_root``
  (downloaded there only when asked);
- ``imagefolder``: ``data_root/train/<class>/*`` and ``data_root/test/<class>/*``, decoded with PIL (in threads)
  and resized to ``image_size`` (native: the first training image's size);
- ``digits``: scikit-learn's bundled 8x8 digits (no download; the offline default), 0..16 scaled to 0..255,
  with its own fixed stratified test split of 360 images;
- ``synthetic``: seeded class-dependent patterns, for tests.

Example::

    >>> from actsearch.trainers.datasets import DATASETS
    >>> raw = DATASETS["synthetic"].read(None, False, None)
    >>> raw.train_images.dtype, tuple(raw.train_images.shape[1:])
    (torch.uint8, (3, 16, 16))
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.error import URLError

import numpy as np
import torch

from actsearch.errors import ConfigError
from actsearch.trainers.indices import stratified_order
from actsearch.trainers.result import DatasetNotFoundError

__all__ = ["DATASETS", "DatasetSource", "RawDataset", "decode_image"]

_HOW_TO_DOWNLOAD = ("get it with `download: true` in the study's task section, `--download` on the command line "
                    "or Task(download=True), or point data_root (or $ACTSEARCH_DATA) at a folder that has it")


@dataclasses.dataclass
class RawDataset:
    """A decoded dataset on the CPU: uint8 (N, C, H, W) images and int64 labels."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    classes: list[str]

    def to_state(self) -> dict[str, object]:
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}

    @classmethod
    def from_state(cls, state: dict[str, object]) -> RawDataset:
        return cls(**state)


@dataclasses.dataclass(frozen=True)
class DatasetSource:
    """How to read one dataset.

    ``read(root, download, image_size)`` returns a :class:`RawDataset`; ``fingerprint(root, image_size)``
    identifies the decoded result for the disk cache (``None``: too cheap to cache); ``flip`` says whether a
    random horizontal flip keeps the label (off for digits and house numbers).
    """

    read: Callable[[Path | None, bool, int | None], RawDataset]
    fingerprint: Callable[[Path, int | None], dict[str, object] | None]
    flip: bool


def decode_image(path: str, size: tuple[int, int]) -> np.ndarray:
    """One image file as a (H, W, 3) uint8 array of ``size`` = (width, height); PIL resizes with antialiasing.

    Raises :class:`~actsearch.errors.ConfigError` naming a file PIL cannot read."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            if image.size != size:
                image = image.resize(size, Image.BILINEAR)
            return np.asarray(image, dtype=np.uint8)
    except OSError as exc:  # PIL's UnidentifiedImageError and truncated files are OSErrors
        raise ConfigError(f"cannot decode image {path} ({exc}); remove or replace it (imagefolder datasets need "
                          "image files PIL can read)") from exc


def _torchvision_source(name: str, class_name: str, files: tuple[str, ...], flip: bool) -> DatasetSource:
    def read(root: Path, download: bool, image_size: int | None) -> RawDataset:
        import torchvision.datasets

        cls = getattr(torchvision.datasets, class_name)
        if class_name == "SVHN":
            splits = ({"split": "train"}, {"split": "test"})
        else:
            splits = ({"train": True}, {"train": False})
        try:
            train, test = (cls(str(root), download=download, **split) for split in splits)
        except (URLError, OSError, RuntimeError) as exc:
            if not download:
                raise DatasetNotFoundError(
                    f"dataset {name!r} not found in {root} (looked for {', '.join(str(root / f) for f in files)}); "
                    f"{_HOW_TO_DOWNLOAD}"
                ) from exc
            # torchvision reports a failed download as URLError, OSError or (MNIST, after its mirrors) RuntimeError
            raise DatasetNotFoundError(
                f"downloading dataset {name!r} into {root} failed ({exc}); without network access, copy the "
                f"files ({', '.join(files)}) into {root} by hand, or point data_root (or $ACTSEARCH_DATA) at a folder "
                "that has them"
            ) from exc
        images = [_to_nchw(split.data) for split in (train, test)]
        labels = [torch.as_tensor(np.asarray(split.labels if class_name == "SVHN" else split.targets), dtype=torch.long)
                  for split in (train, test)]
        classes = list(getattr(train, "classes", [str(i) for i in range(int(labels[0].max()) + 1)]))
        return RawDataset(images[0], labels[0], images[1], labels[1], classes)

    def fingerprint(root: Path, image_size: int | None) -> dict[str, object]:
        return {"class": class_name}

    return DatasetSource(read, fingerprint, flip)


def _to_nchw(data) -> torch.Tensor:
    array = torch.as_tensor(np.asarray(data), dtype=torch.uint8)
    if array.ndim == 3:  # MNIST-like (N, H, W)
        return array.unsqueeze(1).contiguous()
    if array.shape[-1] in (1, 3):  # CIFAR (N, H, W, C); SVHN is already (N, C, H, W)
        return array.permute(0, 3, 1, 2).contiguous()
    return array.contiguous()


def _imagefolder_samples(root: Path) -> tuple[list[tuple[str, int]], list[tuple[str, int]], list[str]]:
    from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, make_dataset

    missing = [split for split in ("train", "test") if not (root / split).is_dir()]
    if missing:
        raise DatasetNotFoundError(
            f"imagefolder dataset not found: {root} has no {' or '.join(s + '/' for s in missing)} folder; set "
            "data_root to a folder holding train/<class>/<image> and test/<class>/<image>"
        )
    try:
        classes, class_to_idx = find_classes(str(root / "train"))
        samples = [make_dataset(str(root / split), class_to_idx, extensions=IMG_EXTENSIONS)
                   for split in ("train", "test")]
    except FileNotFoundError as exc:
        raise DatasetNotFoundError(f"imagefolder dataset in {root}: {exc}") from exc
    return samples[0], samples[1], classes


def _read_imagefolder(root: Path, download: bool, image_size: int | None) -> RawDataset:
    from PIL import Image

    train, test, classes = _imagefolder_samples(root)
    if image_size is None:
        with Image.open(train[0][0]) as first:
            size = first.size
    else:
        size = (image_size, image_size)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        decoded = [np.stack(list(pool.map(lambda sample: decode_image(sample[0], size), samples, chunksize=256)))
                   for samples in (train, test)]
    images = [torch.from_numpy(array).permute(0, 3, 1, 2).contiguous() for array in decoded]
    labels = [torch.tensor([label for _, label in samples], dtype=torch.long) for samples in (train, test)]
    return RawDataset(images[0], labels[0], images[1], labels[1], classes)


def _imagefolder_fingerprint(root: Path, image_size: int | None) -> dict[str, object]:
    folders = [root / split for split in ("train", "test") if (root / split).is_dir()]
    folders += [entry for folder in folders for entry in folder.iterdir() if entry.is_dir()]
    mtimes = sorted((str(folder.relative_to(root)), folder.stat().st_mtime_ns) for folder in folders)
    return {"image_size": image_size, "mtimes": mtimes}


_DIGITS_TEST_IMAGES = 360


def _read_digits(root: Path | None, download: bool, image_size: int | None) -> RawDataset:
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.from_numpy(np.rint(digits.images * (255 / 16)).astype(np.uint8)).unsqueeze(1)
    labels = torch.as_tensor(digits.target, dtype=torch.long)
    order = stratified_order(labels, torch.Generator().manual_seed(0))
    test, train = order[:_DIGITS_TEST_IMAGES], order[_DIGITS_TEST_IMAGES:]
    return RawDataset(images[train], labels[train], images[test], labels[test], [str(d) for d in range(10)])


def _read_synthetic(root: Path | None, download: bool, image_size: int | None) -> RawDataset:
    """10 classes of 16x16 RGB images: a smooth class template, randomly shifted, plus noise."""
    generator = torch.Generator().manual_seed(1234)
    templates = torch.nn.functional.interpolate(torch.randn(10, 3, 4, 4, generator=generator), size=(16, 16),
                                                mode="bilinear", align_corners=False)

    def make(count: int) -> tuple[torch.Tensor, torch.Tensor]:
        labels = torch.arange(count) % 10
        images = templates[labels] + 0.6 * torch.randn(count, 3, 16, 16, generator=generator)
        shifts = torch.randint(-2, 3, (count, 2), generator=generator)
        images = torch.stack([image.roll(tuple(shift.tolist()), dims=(1, 2)) for image, shift in zip(images, shifts)])
        return (torch.sigmoid(images) * 255).round().to(torch.uint8), labels

    train_images, train_labels = make(1000)
    test_images, test_labels = make(300)
    return RawDataset(train_images, train_labels, test_images, test_labels, [f"class{i}" for i in range(10)])


def _not_cached(root: Path, image_size: int | None) -> None:
    return None


DATASETS: dict[str, DatasetSource] = {
    "digits": DatasetSource(_read_digits, _not_cached, flip=False),
    "synthetic": DatasetSource(_read_synthetic, _not_cached, flip=False),
    "cifar10": _torchvision_source("cifar10", "CIFAR10", ("cifar-10-batches-py",), flip=True),
    "cifar100": _torchvision_source("cifar100", "CIFAR100", ("cifar-100-python",), flip=True),
    "mnist": _torchvision_source("mnist", "MNIST", ("MNIST/raw",), flip=False),
    "fashion_mnist": _torchvision_source("fashion_mnist", "FashionMNIST", ("FashionMNIST/raw",), flip=True),
    "svhn": _torchvision_source("svhn", "SVHN", ("train_32x32.mat", "test_32x32.mat"), flip=False),
    "imagefolder": DatasetSource(_read_imagefolder, _imagefolder_fingerprint, flip=True),
}
