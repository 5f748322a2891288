"""``smallcnn``: a cheap proxy, four conv-BN-act blocks with max-pooling (about 0.1M parameters).

``stem`` (16 channels, full resolution), then ``stage1``..``stage3`` (32, 64, 128 channels, times ``width``), each
conv-BN-act then a 2x2 max-pool; global average pool and a linear classifier. About a third of ResNet-20's
multiply-adds at 32x32. Module names: ``stem.act``, ``stage2.0.act``, ...

Example::

    >>> import torch
    >>> from actsearch.trainers.networks.smallcnn import small_cnn
    >>> small_cnn(num_classes=10, in_channels=1)(torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 10])
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn as nn

from actsearch.trainers.networks.registry import register_network

__all__ = ["GlobalAveragePool", "small_cnn"]


def _conv_bn_act(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(OrderedDict(
        conv=nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        bn=nn.BatchNorm2d(out_channels),
        act=nn.ReLU(),
    ))


class GlobalAveragePool(nn.Module):
    """Mean over height and width; unlike ``AdaptiveAvgPool2d``, its backward is deterministic on CUDA."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


@register_network("smallcnn", stages=("stem", "stage1", "stage2", "stage3"))
def small_cnn(num_classes: int = 10, in_channels: int = 3, width: float = 1.0) -> nn.Module:
    """The small proxy CNN; ``ceil_mode`` pooling keeps 8x8 inputs (digits) valid down to 1x1."""
    channels = [max(1, round(base * width)) for base in (16, 32, 64, 128)]
    layers: OrderedDict[str, nn.Module] = OrderedDict(stem=_conv_bn_act(in_channels, channels[0]))
    for index in range(1, 4):
        layers[f"stage{index}"] = nn.Sequential(_conv_bn_act(channels[index - 1], channels[index]),
                                                nn.MaxPool2d(2, ceil_mode=True))
    layers["pool"] = GlobalAveragePool()
    layers["fc"] = nn.Linear(channels[-1], num_classes)
    model = nn.Sequential(layers)
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return model
