"""actsearch: find the best activation function configuration for a CNN and task.

``import actsearch`` is cheap: the names below load PyTorch (or Optuna) only when first used.

Example:
    >>> import torchvision
    >>> import actsearch
    >>> model = torchvision.models.resnet18(num_classes=10)
    >>> actsearch.apply_activations(model, "la_silu")
    17
    >>> actsearch.create_activation("la_hardsilu")
    LayerAct(gate='hardsigmoid', alpha=1e-05, dims=None)
"""

import importlib

from actsearch.version import __version__

# public name -> module defining it
_LAZY = {
    "ActivationSpec": "actsearch.activations",
    "PlacementPlan": "actsearch.activations",
    "apply_activations": "actsearch.activations",
    "create_activation": "actsearch.activations",
    "register_activation": "actsearch.activations",
    "load_config": "actsearch.study.export",
}

__all__ = [*sorted(_LAZY), "__version__"]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'actsearch' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
