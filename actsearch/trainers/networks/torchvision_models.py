"""Torchvision classification models as ``"tv:<name>"`` (``"tv:resnet18"``, ``"tv:mobilenet_v3_small"``, ...).

Built untrained with ``num_classes`` outputs; the first convolution is rebuilt for ``in_channels`` when it
differs from 3. Their own activation modules are the placeholders :func:`actsearch.activations.apply_activations`
replaces (a module reused at several call sites, like ResNet's ``relu``, is handled there). Models that call
activations functionally (e.g. Inception's ``F.relu``) keep those. The width multiplier is not available.

Stages are the top-level children holding activation modules, descending while a single child holds them all:
``tv:resnet18`` -> ``["relu", "layer1", "layer2", "layer3", "layer4"]`` (``relu`` is the stem's activation).

Example::

    >>> from actsearch.trainers.networks.torchvision_models import torchvision_stages
    >>> torchvision_stages("resnet18")
    ['relu', 'layer1', 'layer2', 'layer3', 'layer4']
"""

from __future__ import annotations

import torch
import torch.nn as nn

from actsearch.activations import is_activation_module
from actsearch.errors import ConfigError

__all__ = ["build_torchvision", "torchvision_stages"]

_NO_AUX_LOGITS = ("googlenet", "inception_v3")


def build_torchvision(name: str, num_classes: int, in_channels: int, width: float) -> nn.Module:
    import torchvision.models

    if width != 1.0:
        raise ConfigError(f"width = {width} is not available for torchvision model 'tv:{name}'; use width 1.0 or "
                          "one of actsearch's own networks (resnet20, smallcnn, ...)")
    kwargs: dict[str, object] = {"weights": None, "num_classes": num_classes}
    if name in _NO_AUX_LOGITS:
        kwargs.update(aux_logits=False, init_weights=True)
    model = torchvision.models.get_model(name, **kwargs)
    if in_channels != 3:
        _adapt_first_conv(model, in_channels)
    return model


def torchvision_stages(name: str) -> list[str]:
    with torch.device("meta"):
        model = build_torchvision(name, num_classes=10, in_channels=3, width=1.0)
    prefix, module = "", model
    while True:
        holders = [(child_name, child) for child_name, child in module.named_children() if _has_activation(child)]
        if len(holders) != 1 or is_activation_module(holders[0][1]):
            return [prefix + child_name for child_name, _ in holders]
        prefix, module = f"{prefix}{holders[0][0]}.", holders[0][1]


def _has_activation(module: nn.Module) -> bool:
    return any(is_activation_module(m) for m in module.modules())


def _adapt_first_conv(model: nn.Module, in_channels: int) -> None:
    name, conv = next((n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d))
    parent = model.get_submodule(name.rpartition(".")[0]) if "." in name else model
    replacement = nn.Conv2d(in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                            padding=conv.padding, dilation=conv.dilation, bias=conv.bias is not None)
    nn.init.kaiming_normal_(replacement.weight, mode="fan_out", nonlinearity="relu")
    setattr(parent, name.rpartition(".")[2], replacement)
