"""Device-resident data: a dataset decoded once, cached on disk, split, and moved to the trial's device.

:func:`load_data` returns a :class:`DeviceData` whose images are uint8 NCHW tensors on the device:
the training split (after the optional ``train_subset``), the seeded stratified validation split
(``val_fraction``), and the test set, each in stratified order so that the first ``k`` images of a split
keep the class proportions. ``mean``/``std`` (per channel, pixel values in [0, 1]) come from the whole training
split, so every fidelity normalizes the same way. ``image_size`` resizes once, on the device.

Decoded datasets (torchvision files, image folders) are cached in ``data_root/cache`` (or, if that is not
writable, in the default data root's cache), keyed by dataset, resolved path and decode size; the file is written
to a temporary name and moved into place, so concurrent trials never read half a file, and decoding holds a
file lock, so trials starting together decode once. A decode says so on stderr (it can take minutes):
``decoding cifar10 from ... once, for this and later runs``, then
``decoded 60,000 images in 41.3 s, cached in .../cache/cifar10-....pt``.

Example::

    >>> from actsearch.trainers import Task, load_data
    >>> data = load_data(Task(dataset="digits", val_fraction=0.1), "cpu")
    >>> data.num_classes, data.in_channels, data.image_size, len(data.val_labels)
    (10, 1, 8, 144)
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import pickle
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import filelock
import torch
import torch.nn.functional as F

from actsearch.errors import ConfigError
from actsearch.trainers.datasets import DATASETS, RawDataset
from actsearch.trainers.indices import stratified_order
from actsearch.trainers.task import Task, default_data_root, resolve_device

__all__ = ["DeviceData", "load_data", "load_raw"]

_CACHE_FORMAT = 1
_CHUNK = 4096  # images per resizing chunk (bounds the float32 temporary)


@dataclasses.dataclass
class DeviceData:
    """Splits of one dataset on one device: uint8 (N, C, H, W) images, int64 labels, float32 (C,) mean/std."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    val_images: torch.Tensor
    val_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor
    classes: list[str]
    dataset: str
    flip: bool  # whether a horizontal flip keeps labels on this dataset (the augmentation default)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def in_channels(self) -> int:
        return self.train_images.shape[1]

    @property
    def image_size(self) -> int:
        return self.train_images.shape[-1]

    @property
    def device(self) -> torch.device:
        return self.train_images.device

    def to(self, device: torch.device | str) -> DeviceData:
        """A copy on ``device`` (``self`` if already there)."""
        device = torch.device(device)
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
        if self.device == device:
            return self
        moved = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return DeviceData(**{k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in moved.items()})


def load_data(task: Task, device: torch.device | str | None = None) -> DeviceData:
    """Load ``task.dataset`` (from the disk cache when possible), split it, and put it on ``device``.

    ``device`` defaults to the task's. Raises :class:`~actsearch.trainers.DatasetNotFoundError` when the files are
    missing and :class:`~actsearch.errors.ConfigError` when ``train_subset`` exceeds the training split.
    """
    device = resolve_device(task.device) if device is None else torch.device(device)
    raw = load_raw(task)
    generator = torch.Generator().manual_seed(task.seed)
    order = stratified_order(raw.train_labels, generator)
    n_total = len(order)
    n_val = min(max(round(n_total * task.val_fraction), 1), n_total - 1)
    val_index, train_index = order[:n_val], order[n_val:]
    train_images = _resize(raw.train_images[train_index].to(device), task.image_size)
    mean, std = _channel_statistics(train_images)
    keep = _subset_size(task.train_subset, len(train_index))
    test_order = stratified_order(raw.test_labels, generator)
    return DeviceData(
        train_images=train_images[:keep],
        train_labels=raw.train_labels[train_index[:keep]].to(device),
        val_images=_resize(raw.train_images[val_index].to(device), task.image_size),
        val_labels=raw.train_labels[val_index].to(device),
        test_images=_resize(raw.test_images[test_order].to(device), task.image_size),
        test_labels=raw.test_labels[test_order].to(device),
        mean=mean,
        std=std,
        classes=list(raw.classes),
        dataset=task.dataset,
        flip=DATASETS[task.dataset].flip,
    )


def load_raw(task: Task) -> RawDataset:
    """The decoded dataset on the CPU, read from the disk cache if an entry exists, else decoded and cached."""
    source = DATASETS[task.dataset]
    root = task.root
    fingerprint = source.fingerprint(root, task.image_size) if root.exists() else None
    if fingerprint is None:
        return source.read(root, task.download, task.image_size)
    key = {"format": _CACHE_FORMAT, "dataset": task.dataset, "root": str(root.resolve()), **fingerprint}
    name = f"{task.dataset}-{hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]}.pt"
    folders = list(dict.fromkeys([root / "cache", default_data_root() / "cache"]))
    cached = _read_cache(folders, name)
    if cached is not None:
        return cached
    with _decode_lock(folders, name):
        cached = _read_cache(folders, name)  # written by another process while this one waited for the lock
        if cached is not None:
            return cached
        print(f"decoding {task.dataset} from {root} once, for this and later runs", file=sys.stderr, flush=True)
        started = time.perf_counter()
        raw = source.read(root, task.download, task.image_size)
        seconds = time.perf_counter() - started
        written = _write_cache(raw, folders, name)
        count = len(raw.train_labels) + len(raw.test_labels)
        print(f"decoded {count:,} images in {seconds:.1f} s" + (f", cached in {written}" if written else ""),
              file=sys.stderr, flush=True)
    return raw


def _read_cache(folders: list[Path], name: str) -> RawDataset | None:
    for folder in folders:
        path = folder / name
        if path.is_file():
            try:
                return RawDataset.from_state(torch.load(path, weights_only=True))
            except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as exc:
                warnings.warn(f"ignoring unreadable dataset cache {path} ({exc}); decoding again", stacklevel=3)
    return None


@contextlib.contextmanager
def _decode_lock(folders: list[Path], name: str) -> Iterator[None]:
    """An exclusive file lock while decoding: trials starting together wait for one decode instead of repeating
    it. Without a writable folder, no lock."""
    for folder in folders:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            lock = filelock.FileLock(folder / f".{name}.lock")
            lock.acquire()
        except (OSError, filelock.Timeout):
            continue
        try:
            yield
        finally:
            lock.release()
        return
    yield


def _write_cache(raw: RawDataset, folders: list[Path], name: str) -> Path | None:
    for folder in folders:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
        except OSError:
            continue
        try:
            with os.fdopen(handle, "wb") as stream:
                torch.save(raw.to_state(), stream)
            os.chmod(temporary, 0o644)  # mkstemp creates 0600; the cache is meant to be shared
            os.replace(temporary, folder / name)
            return folder / name
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    warnings.warn(f"could not write the dataset cache to {' or '.join(map(str, folders))}; the next run decodes "
                  "the dataset again", stacklevel=3)
    return None


def _resize(images: torch.Tensor, size: int | None) -> torch.Tensor:
    if size is None or images.shape[-1] == size and images.shape[-2] == size:
        return images
    out = torch.empty((*images.shape[:2], size, size), dtype=torch.uint8, device=images.device)
    for start in range(0, len(images), _CHUNK):
        chunk = images[start:start + _CHUNK].float()
        resized = F.interpolate(chunk, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out[start:start + _CHUNK] = resized.round_().clamp_(0, 255).to(torch.uint8)
    return out


def _channel_statistics(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact per-channel mean and std of uint8 images, from a 256-bin histogram per channel (no float copy)."""
    histograms = torch.stack([torch.bincount(images.select(1, c).reshape(-1), minlength=256)
                              for c in range(images.shape[1])]).double()
    values = torch.arange(256, dtype=torch.float64, device=images.device) / 255
    count = histograms.sum(dim=1)
    mean = (histograms * values).sum(dim=1) / count
    variance = (histograms * values.square()).sum(dim=1) / count - mean.square()
    return mean.float(), variance.clamp_min(1e-12).sqrt().float()


def _subset_size(subset: int | float | None, available: int) -> int:
    if subset is None:
        return available
    if isinstance(subset, float):
        return max(1, round(subset * available))
    if subset > available:
        raise ConfigError(f"task.train_subset = {subset} is larger than the training split ({available} images); "
                          f"use at most {available}, a fraction, or null")
    return subset
