"""What a trial trains on: dataset, network, fidelity and evaluation settings.

Example::

    >>> from actsearch.trainers import Task
    >>> task = Task(dataset="digits", network="smallcnn", epochs=3)
    >>> Task.from_dict(task.to_dict()) == task
    True
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from actsearch.errors import ConfigError
from actsearch.trainers.corruptions import resolve_corruptions
from actsearch.trainers.datasets import DATASETS
from actsearch.trainers.networks import check_network_name

__all__ = ["Task", "default_data_root", "resolve_device"]

_SEVERITIES = (1, 2, 3, 4, 5)


def default_data_root() -> Path:
    """``$ACTSEARCH_DATA`` if set, else ``~/.cache/actsearch/data``."""
    return Path(os.environ.get("ACTSEARCH_DATA") or Path.home() / ".cache" / "actsearch" / "data")


@dataclasses.dataclass(frozen=True)
class Task:
    """One training task; every field has a default, so ``Task()`` trains ResNet-20 on the bundled digits.

    - ``dataset``: one of :data:`~actsearch.trainers.DATASETS`. ``imagefolder`` reads ``data_root/train/<class>/``
      and ``data_root/test/<class>/``.
    - ``data_root``: where datasets live (``None``: :func:`default_data_root`); decoded copies are cached in
      ``data_root/cache``. ``download``: let torchvision fetch a missing dataset.
    - ``network``, ``width``: a name of :data:`~actsearch.trainers.NETWORKS` or ``"tv:<torchvision model>"``,
      and its channel multiplier.
    - fidelity: ``epochs``, ``train_subset`` (image count, or fraction of the training split; stratified),
      ``image_size`` (side in pixels, ``None`` = native).
    - ``val_fraction``: stratified, seeded share of the training set held out for validation.
    - ``corruptions`` (``None`` = none, ``"all"`` or a list of names), ``severities`` and ``corruption_images``
      (how many validation, or test, images are corrupted; ``None`` = all).
    - ``device``: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...
    """

    dataset: str = "digits"
    data_root: str | None = None
    download: bool = False
    network: str = "resnet20"
    width: float = 1.0
    epochs: int = 10
    train_subset: int | float | None = None
    image_size: int | None = None
    batch_size: int = 128
    val_fraction: float = 0.1
    seed: int = 0
    corruptions: str | tuple[str, ...] | None = None
    severities: tuple[int, ...] = _SEVERITIES
    corruption_images: int | None = 1000
    device: str = "auto"
    compile: bool = False
    deterministic: bool = False

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ConfigError(f"unknown dataset {self.dataset!r}{_did_you_mean(self.dataset, DATASETS)}; "
                              f"allowed: {', '.join(DATASETS)}")
        check_network_name(self.network)
        if self.data_root is not None:
            object.__setattr__(self, "data_root", str(self.data_root))
        _check_bool("download", self.download)
        _check_bool("compile", self.compile)
        _check_bool("deterministic", self.deterministic)
        if not _is_number(self.width) or self.width <= 0:
            raise ConfigError(f"task.width = {self.width!r} must be a number > 0 (channel multiplier)")
        _check_int("epochs", self.epochs, 1)
        _check_int("batch_size", self.batch_size, 1)
        _check_int("seed", self.seed, 0)
        if self.image_size is not None:
            _check_int("image_size", self.image_size, 4)
        subset = self.train_subset
        if subset is not None and not (
            (isinstance(subset, int) and not isinstance(subset, bool) and subset >= 1)
            or (isinstance(subset, float) and 0 < subset <= 1)
        ):
            raise ConfigError(f"task.train_subset = {subset!r} must be an image count >= 1, a fraction in (0, 1], "
                              "or null (the whole training split)")
        if not _is_number(self.val_fraction) or not 0 < self.val_fraction < 1:
            raise ConfigError(f"task.val_fraction = {self.val_fraction!r} must be a fraction in (0, 1)")
        if isinstance(self.corruptions, str):
            if self.corruptions != "all":
                object.__setattr__(self, "corruptions", (self.corruptions,))
        elif self.corruptions is not None:
            if not isinstance(self.corruptions, Sequence) or not all(isinstance(c, str) for c in self.corruptions):
                raise ConfigError(f"task.corruptions = {self.corruptions!r} must be null, 'all' or a list of "
                                  "corruption names")
            object.__setattr__(self, "corruptions", tuple(self.corruptions))
        if self.corruptions is not None:
            resolve_corruptions(self.corruptions)  # unknown names fail now, not after training
        if not isinstance(self.severities, Sequence) or isinstance(self.severities, str) or not self.severities \
                or not all(s in _SEVERITIES and not isinstance(s, bool) for s in self.severities):
            raise ConfigError(f"task.severities = {self.severities!r} must be a non-empty list drawn from "
                              "1, 2, 3, 4, 5")
        object.__setattr__(self, "severities", tuple(sorted(set(self.severities))))
        if self.corruption_images is not None:
            _check_int("corruption_images", self.corruption_images, 1)
        _parse_device(self.device)

    @property
    def root(self) -> Path:
        """``data_root`` as a path, the default when unset."""
        return Path(self.data_root).expanduser() if self.data_root is not None else default_data_root()

    def to_dict(self) -> dict[str, object]:
        """JSON/YAML-ready dict of every field."""
        out = dataclasses.asdict(self)
        out["severities"] = list(self.severities)
        if isinstance(self.corruptions, tuple):
            out["corruptions"] = list(self.corruptions)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Task:
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`~actsearch.errors.ConfigError`."""
        fields = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise ConfigError(f"unknown task setting {', '.join(map(repr, unknown))}"
                              f"{_did_you_mean(unknown[0], fields)}; allowed: {', '.join(fields)}")
        return cls(**data)


def resolve_device(device: str) -> torch.device:
    """``"auto"`` -> CUDA if available else CPU; anything else is checked to exist. CUDA devices get their index."""
    resolved = _parse_device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"task.device = {device!r} but CUDA is not available here; use 'auto' or 'cpu'")
    if resolved.type == "cuda" and resolved.index is None:  # tensors report an index: make equal devices compare equal
        return torch.device("cuda", torch.cuda.current_device())
    return resolved


def _parse_device(device: str) -> torch.device:
    """Check the spelling of ``device``; whether it exists is checked where the trial runs (a search driver
    without a GPU may plan trials for GPU workers), and no CUDA context is created here."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(f"task.device = {device!r} is not a device; allowed: auto, cpu, cuda, cuda:<index>") from exc
    if resolved.type not in ("cpu", "cuda"):
        raise ConfigError(f"task.device = {device!r} is not supported; allowed: auto, cpu, cuda, cuda:<index>")
    return resolved


def _did_you_mean(name: str, choices) -> str:
    match = difflib.get_close_matches(str(name), list(choices), 1)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_int(name: str, value: object, minimum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"task.{name} = {value!r} must be an integer >= {minimum}")


def _check_bool(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"task.{name} = {value!r} must be true or false")
