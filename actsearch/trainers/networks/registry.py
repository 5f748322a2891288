"""The network registry: name -> builder and stage names (timm-like).

A builder is ``builder(num_classes, in_channels, width) -> nn.Module`` whose activations are distinct
``nn.ReLU`` placeholders, one per call site, for :func:`actsearch.activations.apply_activations` to replace.
Torchvision classification models are reachable as ``"tv:<name>"`` (e.g. ``"tv:resnet18"``).

Example::

    >>> import torch.nn as nn
    >>> from actsearch.trainers.networks.registry import NETWORKS, register_network
    >>> @register_network("tiny", stages=("body",))
    ... def tiny(num_classes, in_channels, width):
    ...     return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * 64, num_classes))
    >>> "tiny" in NETWORKS
    True
    >>> del NETWORKS["tiny"]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch.nn as nn

__all__ = ["NETWORKS", "TORCHVISION_PREFIX", "NetworkEntry", "is_network_name", "register_network",
           "torchvision_model_names"]

TORCHVISION_PREFIX = "tv:"

Builder = Callable[[int, int, float], nn.Module]


@dataclasses.dataclass(frozen=True)
class NetworkEntry:
    """A registered network: its builder and its stages (module-name prefixes usable as placement patterns)."""

    builder: Builder
    stages: tuple[str, ...]


NETWORKS: dict[str, NetworkEntry] = {}


def register_network(name: str, *, stages: tuple[str, ...]) -> Callable[[Builder], Builder]:
    """Decorator registering ``builder`` under ``name`` with its stage names."""

    def decorate(builder: Builder) -> Builder:
        NETWORKS[name] = NetworkEntry(builder, tuple(stages))
        return builder

    return decorate


def torchvision_model_names() -> list[str]:
    """Torchvision's classification models (the names after ``tv:``)."""
    import torchvision.models

    return torchvision.models.list_models(module=torchvision.models)


def is_network_name(name: object) -> bool:
    """Whether ``name`` is a registered network or ``tv:<torchvision classification model>``."""
    if not isinstance(name, str):
        return False
    if name.startswith(TORCHVISION_PREFIX):
        return name[len(TORCHVISION_PREFIX):] in torchvision_model_names()
    return name in NETWORKS
