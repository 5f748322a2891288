"""CIFAR ResNets as in the LayerAct study (He et al. 2016, section 4.2).

Post-activation basic blocks: conv-BN-act-conv-BN, residual add, then the activation (so BatchNorm precedes
every activation except the one after the add); option-A shortcut (stride-2 subsampling, zero-padded new
channels, no parameters); 3 stages of ``n`` blocks with 16, 32, 64 channels (times ``width``); depth 6n+2.
Module names: ``stem.conv/bn/act``, ``stage{1,2,3}.{i}.conv1/bn1/act1/conv2/bn2/act2``, ``fc``.
Kaiming-normal initialisation of conv and linear weights.

Example::

    >>> import torch
    >>> from actsearch.trainers.networks.resnet import cifar_resnet
    >>> model = cifar_resnet(20, num_classes=10)
    >>> sum(p.numel() for p in model.parameters())
    269722
    >>> model(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 10])
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

from actsearch.errors import ConfigError
from actsearch.trainers.networks.registry import register_network

__all__ = ["BasicBlock", "OptionAShortcut", "cifar_resnet"]

STAGES = ("stem", "stage1", "stage2", "stage3")


class OptionAShortcut(nn.Module):
    """Identity shortcut across a downsampling: take every ``stride``-th pixel, zero-pad the new channels."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        extra = out_channels - in_channels
        self.pad = (extra // 2, extra - extra // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x[:, :, ::self.stride, ::self.stride], (0, 0, 0, 0, *self.pad))


class BasicBlock(nn.Module):
    """conv3x3-BN-act1-conv3x3-BN, plus shortcut, then act2 (after the add)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.act1 = nn.ReLU()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        changes_shape = stride != 1 or in_channels != out_channels
        self.shortcut = OptionAShortcut(in_channels, out_channels, stride) if changes_shape else nn.Identity()
        self.act2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.act2(out + self.shortcut(x))


class CifarResNet(nn.Module):
    def __init__(self, blocks_per_stage: int, num_classes: int, in_channels: int, width: float) -> None:
        super().__init__()
        channels = [max(1, round(base * width)) for base in (16, 32, 64)]
        self.stem = nn.Sequential(OrderedDict(
            conv=nn.Conv2d(in_channels, channels[0], 3, padding=1, bias=False),
            bn=nn.BatchNorm2d(channels[0]),
            act=nn.ReLU(),
        ))
        previous = channels[0]
        for index, out_channels in enumerate(channels, start=1):
            blocks = []
            for block in range(blocks_per_stage):
                stride = 2 if index > 1 and block == 0 else 1
                blocks.append(BasicBlock(previous, out_channels, stride))
                previous = out_channels
            self.add_module(f"stage{index}", nn.Sequential(*blocks))
        self.fc = nn.Linear(previous, num_classes)
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stage3(self.stage2(self.stage1(self.stem(x))))
        return self.fc(x.mean(dim=(2, 3)))  # global average pool; unlike AdaptiveAvgPool2d, deterministic on CUDA


def cifar_resnet(depth: int, num_classes: int = 10, in_channels: int = 3, width: float = 1.0) -> nn.Module:
    """ResNet-``depth`` for small images; ``depth`` = 6n + 2 (20, 32, 44, 56, 110)."""
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ConfigError(f"CIFAR ResNet depth {depth!r} is not allowed; allowed: 6n + 2 for n >= 1 (8, 14, 20, 32, "
                          "44, 56, 110, ...)")
    return CifarResNet((depth - 2) // 6, num_classes, in_channels, width)


def _register(depth: int) -> None:
    @register_network(f"resnet{depth}", stages=STAGES)
    def build(num_classes: int, in_channels: int, width: float) -> nn.Module:
        return cifar_resnet(depth, num_classes, in_channels, width)


for _depth in (20, 32, 44, 56, 110):
    _register(_depth)
