"""What a trial trains on: dataset, network, fidelity and evaluation settings.

:class:`Task` is the one definition of a task: the study file's ``task`` section, ``actsearch train``'s
options, exported configurations and the Ray workers all read and write this model. Adding a field is
one line here (with its check, if any) and its test.

Example::

    >>> from actsearch.trainers import Task
    >>> task = Task(dataset="digits", network="smallcnn", epochs=3)
    >>> Task.from_dict(task.to_dict()) == task
    True
    >>> task.replace(epochs=5).epochs
    5
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from actsearch.errors import ConfigError, raise_config_error, unknown_name

__all__ = ["Task", "default_data_root", "resolve_device"]

SEVERITIES = (1, 2, 3, 4, 5)
_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
_DEVICES_ALLOWED = "allowed: auto, cpu, cuda, cuda:<index>"


def default_data_root() -> Path:
    """``$ACTSEARCH_DATA`` if set, else ``~/.cache/actsearch/data``."""
    return Path(os.environ.get("ACTSEARCH_DATA") or Path.home() / ".cache" / "actsearch" / "data")


class Task(BaseModel):
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

    Invalid values raise :class:`~actsearch.errors.ProblemsError` (a ``ConfigError``), one line per field.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    dataset: str = "digits"
    data_root: str | None = None
    download: bool = False
    network: str = "resnet20"
    width: float = Field(1.0, gt=0)
    epochs: int = Field(10, ge=1)
    train_subset: int | float | None = None
    image_size: int | None = Field(None, ge=4)
    batch_size: int = Field(128, ge=1)
    val_fraction: float = Field(0.1, gt=0, lt=1)
    seed: int = Field(0, ge=0)
    corruptions: str | tuple[str, ...] | None = None
    severities: tuple[int, ...] = SEVERITIES
    corruption_images: int | None = Field(1000, ge=1)
    device: str = "auto"
    compile: bool = False
    deterministic: bool = False

    def __init__(self, **fields: Any) -> None:
        try:
            super().__init__(**fields)
        except ValidationError as error:
            raise_config_error(error, lambda loc: list(Task.model_fields), prefix="task")

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, value: str) -> str:
        from actsearch.trainers.datasets import DATASETS

        if value not in DATASETS:
            raise ValueError(unknown_name("dataset", value, DATASETS))
        return value

    @field_validator("network")
    @classmethod
    def _known_network(cls, value: str) -> str:
        from actsearch.trainers.networks import check_network_name

        check_network_name(value)
        return value

    @field_validator("data_root", mode="before")
    @classmethod
    def _path(cls, value: Any) -> Any:
        return os.fspath(value) if isinstance(value, os.PathLike) else value

    @field_validator("train_subset")
    @classmethod
    def _subset(cls, value: int | float | None) -> int | float | None:
        if value is None or (isinstance(value, int) and value >= 1) or (isinstance(value, float) and 0 < value <= 1):
            return value
        raise ValueError(f"must be an image count >= 1, a fraction in (0, 1], or null (the whole training split); "
                         f"got {value!r}")

    @field_validator("corruptions", mode="before")
    @classmethod
    def _corruptions(cls, value: Any) -> Any:
        if value is None or value == "all":
            return value
        names = (value,) if isinstance(value, str) else value
        if not isinstance(names, Sequence) or not names or not all(isinstance(name, str) for name in names):
            raise ValueError(f"must be null, 'all', a category or a list of corruption names; got {value!r}")
        from actsearch.trainers.corruptions import resolve_corruptions

        resolve_corruptions(list(names))  # unknown names fail now, not after training
        return tuple(names)

    @field_validator("severities", mode="before")
    @classmethod
    def _severities(cls, value: Any) -> tuple[int, ...]:
        if isinstance(value, str) or not isinstance(value, Sequence) or not value or not all(
            isinstance(severity, int) and not isinstance(severity, bool) and severity in SEVERITIES
            for severity in value
        ):
            raise ValueError(f"must be a non-empty list drawn from 1, 2, 3, 4, 5; got {value!r}")
        return tuple(sorted(set(value)))

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        # Only the spelling: whether the device exists is checked where the trial runs (a search driver
        # without a GPU may plan trials for GPU workers).
        if not _DEVICE.match(value):
            raise ValueError(f"{value!r} is not a device; {_DEVICES_ALLOWED}")
        return value

    @property
    def root(self) -> Path:
        """``data_root`` as a path, the default when unset."""
        return Path(self.data_root).expanduser() if self.data_root is not None else default_data_root()

    def to_dict(self) -> dict[str, object]:
        """JSON/YAML-ready dict of every field (tuples as lists)."""
        return self.model_dump(mode="json")

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Task:
        """Inverse of :meth:`to_dict`; unknown keys and bad values raise :class:`~actsearch.errors.ConfigError`."""
        return cls(**{str(key): value for key, value in data.items()})

    def replace(self, **changes: object) -> Task:
        """A copy with ``changes`` applied and checked."""
        return Task.from_dict({**self.to_dict(), **changes})


def resolve_device(device: str):
    """``"auto"`` -> CUDA if available else CPU; anything else is checked to exist. CUDA devices get their index."""
    import torch

    if not _DEVICE.match(device):
        raise ConfigError(f"task.device: {device!r} is not a device; {_DEVICES_ALLOWED}")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"task.device: {device!r} but CUDA is not available here; use 'auto' or 'cpu'")
    if resolved.type == "cuda" and resolved.index is None:  # tensors report an index: make equal devices compare equal
        return torch.device("cuda", torch.cuda.current_device())
    return resolved
