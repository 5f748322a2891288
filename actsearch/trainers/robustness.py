"""Accuracy under corruption: mean, per category, per severity and per corruption.

:func:`evaluate_corrupted` corrupts clean images on the fly (seeded, so every trial of a search is scored
on the same corrupted set); :func:`evaluate_cifar_c` scores the official CIFAR-10-C / CIFAR-100-C files.
Both return the same dict, accuracies as fractions in [0, 1]; every mean is over the corruptions actually
evaluated, and a category with none evaluated is left out:

    >>> import torch
    >>> from actsearch.trainers.robustness import evaluate_corrupted
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 10))
    >>> images = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8)
    >>> labels = torch.randint(0, 10, (16,))
    >>> result = evaluate_corrupted(model, images, labels, mean=(0.5,) * 3, std=(0.25,) * 3,
    ...                             corruptions=["fog", "contrast"], severities=(1, 5))
    >>> sorted(result), sorted(result["per_severity"]), sorted(result["per_category"])
    (['mean', 'per_category', 'per_corruption', 'per_severity'], ['1', '5'], ['digital', 'weather'])
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

import torch
from torch import nn

from actsearch.errors import ConfigError
from actsearch.trainers.cifar_c import CIFAR_C_CATEGORIES, CIFAR_C_CORRUPTIONS, cifar_c_corruptions, load_cifar_c
from actsearch.trainers.corruptions import (
    CIFAR_C,
    CORRUPTION_CATEGORIES,
    CORRUPTIONS,
    SEVERITIES,
    expand_names,
    resolve_corruptions,
)

__all__ = ["evaluate_cifar_c", "evaluate_corrupted"]


def evaluate_corrupted(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    mean: Sequence[float],
    std: Sequence[float],
    corruptions: str | Iterable[str] | None = "all",
    severities: Iterable[int] = SEVERITIES,
    seed: int = 0,
    batch_size: int = 500,
) -> dict:
    """Accuracy of ``model`` on ``images`` (uint8, N x C x H x W, on the model's device) corrupted.

    Each batch is scaled to [0, 1], corrupted, normalized with the per-channel ``mean``/``std`` and
    classified, with the model in eval mode under ``torch.no_grad()`` (its previous mode is restored).
    Every (corruption, severity) draws from its own generator seeded with ``seed``, so for a given seed
    and ``batch_size`` the corrupted set is always the same. ``corruptions`` is anything
    :func:`~actsearch.trainers.corruptions.resolve_corruptions` accepts, except nothing at all.
    """
    names = resolve_corruptions(corruptions)
    if not names:
        raise ConfigError("no corruptions to evaluate; give corruption names, category names or 'all'")
    if names == [CIFAR_C]:
        raise ConfigError(f"{CIFAR_C!r} is scored from the official files, not generated: use evaluate_cifar_c")
    levels = _check_severities(severities)
    _check_batch(images, labels, batch_size)
    labels = labels.to(images.device)
    normalize = _normalizer(mean, std, images.shape[1], images.device)
    accuracies: dict[str, dict[int, float]] = {}
    with _eval_mode(model), torch.no_grad():
        for name in names:
            corruption = CORRUPTIONS[name]
            accuracies[name] = {}
            for level in levels:
                generator = torch.Generator(device=images.device)
                generator.manual_seed(int(seed))
                transform = functools.partial(corruption, severity=level, generator=generator)
                accuracies[name][level] = _accuracy(model, images, labels, normalize, batch_size, transform)
    return _summarize(accuracies, CORRUPTION_CATEGORIES)


def evaluate_cifar_c(
    model: nn.Module,
    folder: str | os.PathLike,
    *,
    mean: Sequence[float],
    std: Sequence[float],
    corruptions: str | Iterable[str] | None = None,
    severities: Iterable[int] = SEVERITIES,
    batch_size: int = 500,
    limit: int | None = None,
    device: torch.device | str | None = None,
) -> dict:
    """Accuracy of ``model`` on the official CIFAR-C files in ``folder``, in :func:`evaluate_corrupted`'s format.

    ``corruptions=None`` takes every corruption file present in the folder; otherwise names or categories
    of the release or 'all' (each file must then exist). ``limit`` keeps the first images of every severity
    block; ``device`` defaults to the model's.
    """
    names = cifar_c_corruptions(folder) if corruptions is None else _resolve_cifar_c(corruptions)
    if not names:
        raise ConfigError(
            f"no CIFAR-C corruption files in {str(folder)!r}; expected <corruption>.npy for "
            f"{', '.join(CIFAR_C_CORRUPTIONS)}"
        )
    levels = _check_severities(severities)
    if device is None:
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
    accuracies: dict[str, dict[int, float]] = {}
    with _eval_mode(model), torch.no_grad():
        for name in names:
            accuracies[name] = {}
            for level in levels:
                images, labels = load_cifar_c(folder, name, level, limit=limit)
                images, labels = images.to(device), labels.to(device)
                _check_batch(images, labels, batch_size)
                normalize = _normalizer(mean, std, images.shape[1], images.device)
                accuracies[name][level] = _accuracy(model, images, labels, normalize, batch_size, None)
    return _summarize(accuracies, CIFAR_C_CATEGORIES)


def _summarize(accuracies: Mapping[str, Mapping[int, float]], categories: Mapping[str, Sequence[str]]) -> dict:
    per_corruption = {
        name: {
            "mean": _mean(by_level.values()),
            "per_severity": {str(level): accuracy for level, accuracy in by_level.items()},
        }
        for name, by_level in accuracies.items()
    }
    levels = sorted({level for by_level in accuracies.values() for level in by_level})
    per_severity = {
        str(level): _mean(by_level[level] for by_level in accuracies.values() if level in by_level) for level in levels
    }
    per_category = {
        category: _mean(per_corruption[name]["mean"] for name in names if name in per_corruption)
        for category, names in categories.items()
        if any(name in per_corruption for name in names)
    }
    return {
        "mean": _mean(entry["mean"] for entry in per_corruption.values()),
        "per_category": per_category,
        "per_severity": per_severity,
        "per_corruption": per_corruption,
    }


def _mean(values: Iterable[float]) -> float:
    values = list(values)
    return sum(values) / len(values)


def _accuracy(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    normalize: Callable[[torch.Tensor], torch.Tensor],
    batch_size: int,
    transform: Callable[[torch.Tensor], torch.Tensor] | None,
) -> float:
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    correct = torch.zeros((), dtype=torch.int64, device=images.device)
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size].float() / 255
        if transform is not None:
            batch = transform(batch)
        logits = model(normalize(batch).to(dtype))
        correct += (logits.argmax(dim=1) == labels[start : start + batch_size]).sum()
    return correct.item() / len(images)


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _normalizer(
    mean: Sequence[float], std: Sequence[float], channels: int, device: torch.device
) -> Callable[[torch.Tensor], torch.Tensor]:
    mean_t = torch.as_tensor(mean, dtype=torch.float32).flatten()
    std_t = torch.as_tensor(std, dtype=torch.float32).flatten()
    if mean_t.numel() != channels or std_t.numel() != channels:
        raise ConfigError(
            f"mean and std need one value per channel ({channels}), got {mean_t.numel()} and {std_t.numel()}"
        )
    if bool((std_t <= 0).any()):
        raise ConfigError(f"std values must be positive, got {std_t.tolist()}")
    mean_t = mean_t.view(1, channels, 1, 1).to(device)
    std_t = std_t.view(1, channels, 1, 1).to(device)
    return lambda batch: (batch - mean_t) / std_t


def _check_severities(severities: Iterable[int]) -> list[int]:
    levels = list(severities)
    if not levels or any(isinstance(s, bool) or not isinstance(s, int) or s not in SEVERITIES for s in levels):
        raise ConfigError(f"severities must be a non-empty list of integers 1..5, got {levels!r}")
    return sorted(set(levels))


def _check_batch(images: torch.Tensor, labels: torch.Tensor, batch_size: int) -> None:
    if images.dtype != torch.uint8 or images.dim() != 4:
        raise ConfigError(f"images must be a uint8 tensor (N, C, H, W), got {images.dtype} {tuple(images.shape)}")
    if labels.dim() != 1 or len(labels) != len(images) or len(images) == 0:
        raise ConfigError(
            f"need one label per image and at least one image, got {len(labels)} labels for {len(images)} images"
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")


def _resolve_cifar_c(spec: str | Iterable[str]) -> list[str]:
    return expand_names(spec, CIFAR_C_CORRUPTIONS, CIFAR_C_CATEGORIES, lambda item: (
        f"unknown CIFAR-C corruption {item!r}; allowed: {', '.join(CIFAR_C_CORRUPTIONS)}; "
        f"categories: {', '.join(CIFAR_C_CATEGORIES)}; or 'all'"))
