"""The corruption registry: names, categories, input checks, seeding and name resolution.

Each corruption module registers its functions with :func:`register`; :func:`corrupt` and
:func:`resolve_corruptions` are the entry points.

    >>> from actsearch.trainers.corruptions.registry import resolve_corruptions
    >>> resolve_corruptions(["fog", "noise"])
    ['fog', 'gaussian_noise', 'shot_noise', 'impulse_noise']
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping

import torch

from actsearch.errors import ConfigError, unknown_name

__all__ = ["CIFAR_C", "CORRUPTIONS", "CORRUPTION_CATEGORIES", "SEVERITIES", "Corruption", "corrupt", "expand_names",
           "generator_for", "register", "resolve_corruptions"]

SEVERITIES = (1, 2, 3, 4, 5)

CIFAR_C = "cifar-c"
"""The corruption name that asks for the official CIFAR-10-C / CIFAR-100-C files instead of generated images."""

Corruption = Callable[..., torch.Tensor]
"""``corruption(images, severity=1, generator=None) -> images``; ``generator=None`` means seed 0."""

CORRUPTIONS: dict[str, Corruption] = {}

CORRUPTION_CATEGORIES: dict[str, tuple[str, ...]] = {
    "noise": ("gaussian_noise", "shot_noise", "impulse_noise"),
    "blur": ("defocus_blur", "glass_blur", "motion_blur", "zoom_blur"),
    "weather": ("snow", "frost", "fog", "brightness"),
    "digital": ("contrast", "elastic_transform", "pixelate", "jpeg_compression"),
    "extra": ("speckle_noise", "gaussian_blur", "spatter", "saturate"),
}
"""The 19 corruptions of CIFAR-10-C in the release's order: 15 benchmark ones in four categories, and 4 extra."""


def corrupt(images: torch.Tensor, name: str, severity: int, seed: int = 0) -> torch.Tensor:
    """Corrupt a batch with corruption ``name`` at ``severity`` (1..5), seeded by ``seed``.

    The generator lives on the images' device; the same seed gives the same images on every call.
    """
    if name not in CORRUPTIONS:
        raise ConfigError(_unknown_message(name))
    return CORRUPTIONS[name](images, severity, generator_for(seed, images.device))


def resolve_corruptions(spec: str | Iterable[str] | None) -> list[str]:
    """Turn a corruption spec into a list of corruption names, in the release's order for categories.

    ``None`` means no corrupted evaluation (``[]``); ``"all"`` every corruption; a string or a list may mix
    corruption names and category names (noise, blur, weather, digital, extra). Duplicates are dropped, the
    first occurrence keeps its place. ``"cifar-c"`` alone gives ``["cifar-c"]``: score the official
    CIFAR-10-C / CIFAR-100-C files (:func:`actsearch.trainers.robustness.evaluate_cifar_c`) instead.
    """
    if spec is None:
        return []
    items = list(spec) if isinstance(spec, Iterable) and not isinstance(spec, str) else [spec]
    keys = [item.strip().lower() if isinstance(item, str) else item for item in items]
    if CIFAR_C in keys:
        if any(key != CIFAR_C for key in keys):
            raise ConfigError(f"{CIFAR_C!r} scores the official CIFAR-C files and cannot be mixed with generated "
                              f"corruptions, got {items!r}; give {CIFAR_C!r} alone, or only generated corruptions and "
                              f"categories ({', '.join(CORRUPTION_CATEGORIES)}, all)")
        return [CIFAR_C]
    return expand_names(spec, CORRUPTIONS, CORRUPTION_CATEGORIES, _unknown_message)


def expand_names(spec: str | Iterable[str], names: Iterable[str], categories: Mapping[str, Iterable[str]],
                 unknown: Callable[[object], str]) -> list[str]:
    """Expand a name, a category, ``"all"`` or a list of them into ``names`` entries, first occurrence first;
    anything else raises :class:`~actsearch.errors.ConfigError` with the message ``unknown(item)``."""
    items = list(spec) if isinstance(spec, Iterable) and not isinstance(spec, str) else [spec]
    names = list(names)
    result: list[str] = []
    for item in items:
        key = item.strip().lower() if isinstance(item, str) else None
        if key == "all":
            expanded = names
        elif key in categories:
            expanded = list(categories[key])
        elif key in names:
            expanded = [key]
        else:
            raise ConfigError(unknown(item))
        result.extend(name for name in expanded if name not in result)
    return result


def generator_for(seed: int, device: torch.device) -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded with ``seed``."""
    generator = torch.Generator(device=device)
    generator.manual_seed(int(seed))
    return generator


def register(name: str) -> Callable[[Callable], Corruption]:
    """Register ``fn(images_float, severity, generator)``, wrapped with input checks, clipping and dtype."""

    def decorate(fn: Callable[[torch.Tensor, int, torch.Generator], torch.Tensor]) -> Corruption:
        @functools.wraps(fn)
        def apply(images: torch.Tensor, severity: int = 1, generator: torch.Generator | None = None) -> torch.Tensor:
            work = _check_images(images, name)
            level = _check_severity(severity, name)
            if generator is None:
                generator = generator_for(0, images.device)
            return fn(work, level, generator).clamp(0.0, 1.0).to(images.dtype)

        CORRUPTIONS[name] = apply
        return apply

    return decorate


def _unknown_message(name: object) -> str:
    """Every corruption, then the categories, ``all`` and ``cifar-c`` (the official files)."""
    return unknown_name("corruption", name, [*CORRUPTIONS, *CORRUPTION_CATEGORIES, "all", CIFAR_C])


def _check_images(images: object, name: str) -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or not images.is_floating_point():
        kind = images.dtype if isinstance(images, torch.Tensor) else type(images).__name__
        raise ConfigError(f"{name}: images must be a float tensor with values in [0, 1], got {kind}")
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ConfigError(f"{name}: images must have shape (N, C, H, W) with C 1 or 3, got {tuple(images.shape)}")
    return images if images.dtype == torch.float64 else images.float()


def _check_severity(severity: object, name: str) -> int:
    if isinstance(severity, bool) or not isinstance(severity, int) or severity not in SEVERITIES:
        raise ConfigError(f"{name}: severity must be an integer 1..5, got {severity!r}")
    return severity
