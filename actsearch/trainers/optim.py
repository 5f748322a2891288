"""Optimizer and per-iteration learning-rate schedule from the hyperparameters.

Weight decay applies to conv/linear weights only: :func:`actsearch.activations.parameter_groups` puts biases,
normalization and activation parameters in a group without decay.

Example::

    >>> from actsearch.trainers.hparams import resolve_hparams
    >>> from actsearch.trainers.optim import lr_factor
    >>> hp = resolve_hparams({"schedule": "step", "milestones": [0.5, 0.75]})
    >>> [round(lr_factor(hp, step, total_steps=100, steps_per_epoch=10), 4) for step in (0, 49, 50, 75)]
    [1.0, 1.0, 0.1, 0.01]
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
import torch.nn as nn

from actsearch.activations import parameter_groups

__all__ = ["build_optimizer", "build_scheduler", "lr_factor"]

_ONECYCLE_START = 1 / 25  # onecycle starts at lr/25, as torch's OneCycleLR


def build_optimizer(model: nn.Module, hparams: Mapping[str, object]) -> torch.optim.Optimizer:
    groups = parameter_groups(model, hparams["weight_decay"])
    if hparams["optimizer"] == "adamw":
        return torch.optim.AdamW(groups, lr=hparams["lr"], betas=(hparams["momentum"], hparams["beta2"]))
    nesterov = hparams["nesterov"] and hparams["momentum"] > 0  # torch refuses Nesterov without momentum
    return torch.optim.SGD(groups, lr=hparams["lr"], momentum=hparams["momentum"], nesterov=nesterov)


def build_scheduler(optimizer: torch.optim.Optimizer, hparams: Mapping[str, object], total_steps: int,
                    steps_per_epoch: int) -> torch.optim.lr_scheduler.LambdaLR:
    """A scheduler to step after every optimizer step."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(hparams, step, total_steps, steps_per_epoch))


def lr_factor(hparams: Mapping[str, object], step: int, total_steps: int, steps_per_epoch: int) -> float:
    """Multiplier of ``lr`` for 0-based iteration ``step``: linear warm-up times the schedule."""
    warmup_steps = hparams["warmup_epochs"] * steps_per_epoch
    warmup = min(1.0, (step + 1) / warmup_steps) if warmup_steps > 0 else 1.0
    progress = min(step / max(total_steps, 1), 1.0)
    final = hparams["final_lr_fraction"]
    schedule = hparams["schedule"]
    if schedule == "cosine":
        factor = final + (1 - final) * 0.5 * (1 + math.cos(math.pi * progress))
    elif schedule == "step":
        factor = hparams["gamma"] ** sum(progress >= milestone for milestone in hparams["milestones"])
    elif schedule == "onecycle":
        peak = hparams["onecycle_peak"]
        if progress < peak:
            factor = _ONECYCLE_START + (1 - _ONECYCLE_START) * progress / peak
        else:
            factor = 1 - (1 - final) * (progress - peak) / (1 - peak)
    else:
        factor = 1.0
    return warmup * factor
