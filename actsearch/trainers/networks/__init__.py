"""Proxy networks built from a placement plan.

- ``resnet20``, ``resnet32``, ``resnet44`` (also 56, 110): CIFAR ResNets of the LayerAct study, stages
  ``stem``, ``stage1``, ``stage2``, ``stage3``;
- ``smallcnn``: a cheap four-block CNN with the same stage names;
- ``tv:<name>``: any torchvision classification model (``tv:resnet18``), stages found from its modules.

:func:`build_network` builds the network with ``nn.ReLU`` placeholders, one per call site, then places the plan's
activations with :func:`actsearch.activations.apply_activations`, so a per-stage plan uses stage names as
patterns.

Example::

    >>> from actsearch.activations import PlacementPlan, ActivationSpec, PlacementRule
    >>> from actsearch.trainers.networks import build_network, network_stages
    >>> network_stages("resnet20")
    ['stem', 'stage1', 'stage2', 'stage3']
    >>> plan = PlacementPlan(default=ActivationSpec("relu"),
    ...                      rules=(PlacementRule("stage3", ActivationSpec("la_silu")),))
    >>> model = build_network("resnet20", plan, num_classes=10, in_channels=3)
    >>> type(model.stage3[0].act2).__name__ != type(model.stage1[0].act2).__name__
    True
"""

from __future__ import annotations

import torch.nn as nn

from actsearch.activations import PlacementPlan, apply_activations
from actsearch.errors import ConfigError, unknown_name
from actsearch.trainers.networks import resnet, smallcnn  # noqa: F401  (registers the networks)
from actsearch.trainers.networks.registry import (
    NETWORKS,
    TORCHVISION_PREFIX,
    NetworkEntry,
    is_network_name,
    register_network,
    torchvision_model_names,
)
from actsearch.trainers.networks.torchvision_models import build_torchvision, torchvision_stages

__all__ = ["NETWORKS", "NetworkEntry", "build_network", "check_network_name", "is_network_name", "network_stages",
           "register_network"]


def build_network(task_or_name, plan=None, num_classes: int = 10, in_channels: int = 3,
                  width: float = 1.0) -> nn.Module:
    """Build a network (a :class:`~actsearch.trainers.Task` supplies its ``network`` and ``width``) with ``plan``'s
    activations; ``plan`` is anything :meth:`PlacementPlan.parse` accepts, ``None`` keeps ReLU."""
    name = task_or_name.network if hasattr(task_or_name, "network") else task_or_name
    width = task_or_name.width if hasattr(task_or_name, "width") else width
    check_network_name(name)
    if name.startswith(TORCHVISION_PREFIX):
        model = build_torchvision(name[len(TORCHVISION_PREFIX):], num_classes, in_channels, width)
    else:
        model = NETWORKS[name].builder(num_classes, in_channels, width)
    if plan is not None:
        apply_activations(model, plan if isinstance(plan, PlacementPlan) else PlacementPlan.parse(plan))
    return model


def network_stages(network: str) -> list[str]:
    """Module-name prefixes of the network's stages, usable as placement patterns."""
    check_network_name(network)
    if network.startswith(TORCHVISION_PREFIX):
        return torchvision_stages(network[len(TORCHVISION_PREFIX):])
    return list(NETWORKS[network].stages)


def check_network_name(name: str) -> None:
    """Raise :class:`~actsearch.errors.ConfigError` (with a suggestion) unless ``name`` is a known network."""
    if is_network_name(name):
        return
    if isinstance(name, str) and name.startswith(TORCHVISION_PREFIX):
        raise ConfigError(unknown_name("torchvision model", name, [f"{TORCHVISION_PREFIX}{model}"
                                                                   for model in torchvision_model_names()]))
    raise ConfigError(unknown_name("network", name, NETWORKS) + "; or 'tv:<name>' for a torchvision classification "
                      "model (e.g. 'tv:resnet18')")
