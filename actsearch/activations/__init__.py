"""Activation families as swappable, serializable modules, and the tools to place them in any model.

Families (lowercase registered names): relu, leaky_relu, prelu, elu, selu, silu, hardsilu, gelu, mish,
layeract (aliases la_silu, la_hardsilu), anact, apalu. Register your own with :func:`register_activation`.

Example::

    import torch
    from torchvision.models import resnet18
    from actsearch.activations import ActivationSpec, apply_activations, create_activation, parameter_groups

    act = create_activation("la_silu")
    spec = ActivationSpec("anact", {"base": "silu"})
    model = resnet18(num_classes=10)
    apply_activations(model, spec)                      # 17 call sites
    optimizer = torch.optim.SGD(parameter_groups(model, 5e-4), lr=0.1)
"""

from actsearch.activations.registry import (
    ActivationSpecError,
    activation_parameters,
    family_name,
    get_activation,
    is_activation_module,
    list_activations,
    register_activation,
)
from actsearch.activations.spec import ActivationSpec, PlacementPlan, PlacementRule, create_activation
from actsearch.activations.classic import ELU, GELU, HardSiLU, LeakyReLU, Mish, PReLU, ReLU, SELU, SiLU
from actsearch.activations.layeract import LayerAct, layer_act
from actsearch.activations.apalu import APALU, apalu
from actsearch.activations.anact import ANAct
from actsearch.activations.apply import PerCallSite, apply_activations
from actsearch.activations.param_groups import parameter_groups
from actsearch.activations.kernels import c_library


def cpu_kernels_available() -> bool:
    """Build the C kernels of LayerAct, ANAct and APALU if needed (once per machine, cached) and load them;
    False where they cannot be, with a warning saying why (the PyTorch implementations then run)."""
    return c_library.library() is not None


__all__ = [
    "ANAct",
    "APALU",
    "ActivationSpec",
    "ActivationSpecError",
    "ELU",
    "GELU",
    "HardSiLU",
    "LayerAct",
    "LeakyReLU",
    "Mish",
    "PReLU",
    "PerCallSite",
    "PlacementPlan",
    "PlacementRule",
    "ReLU",
    "SELU",
    "SiLU",
    "activation_parameters",
    "apalu",
    "apply_activations",
    "cpu_kernels_available",
    "create_activation",
    "family_name",
    "get_activation",
    "is_activation_module",
    "layer_act",
    "list_activations",
    "parameter_groups",
    "register_activation",
]
