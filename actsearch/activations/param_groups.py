"""Optimizer parameter groups with and without weight decay.

Example::

    import torch
    from torchvision.models import resnet18
    from actsearch.activations import apply_activations, parameter_groups

    model = resnet18()
    apply_activations(model, "apalu")
    optimizer = torch.optim.SGD(parameter_groups(model, weight_decay=5e-4), lr=0.1, momentum=0.9)
"""

from __future__ import annotations

from torch import nn

from actsearch.activations.registry import is_activation_module

__all__ = ["parameter_groups"]

_NORM_TYPES = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm, nn.RMSNorm)


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two optimizer groups: ``[{"params": decayed, "weight_decay": weight_decay},
    {"params": not_decayed, "weight_decay": 0.0}]``.

    Not decayed: every parameter of a normalization layer (BatchNorm, GroupNorm, LayerNorm, ...) or of an
    activation module (PReLU slopes, APALU a and b, ANAct beta, and those of its base), and every bias.
    Parameters with ``requires_grad=False`` are left out; a parameter shared by several modules is listed once.
    """
    decay, no_decay, seen = [], [], set()

    def visit(module: nn.Module, exempt: bool) -> None:
        exempt = exempt or isinstance(module, _NORM_TYPES) or is_activation_module(module)
        for name, parameter in module.named_parameters(recurse=False):
            if not parameter.requires_grad or id(parameter) in seen:
                continue
            seen.add(id(parameter))
            (no_decay if exempt or name == "bias" else decay).append(parameter)
        for child in module.children():
            visit(child, exempt)

    visit(model, False)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
