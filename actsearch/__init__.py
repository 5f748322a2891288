"""actsearch: find the best activation function configuration for a CNN and task.

Example:
    >>> import torchvision
    >>> import actsearch
    >>> model = torchvision.models.resnet18(num_classes=10)
    >>> actsearch.apply_activations(model, "la_silu")
    17
"""

from actsearch.activations import ActivationSpec, PlacementPlan, apply_activations

__version__ = "0.1.0"

__all__ = ["ActivationSpec", "PlacementPlan", "__version__", "apply_activations", "load_config"]


def __getattr__(name: str):
    # load_config lives in actsearch.search, which imports Optuna and Ray: load it only when asked.
    if name == "load_config":
        from actsearch.search.export import load_config

        return load_config
    raise AttributeError(f"module 'actsearch' has no attribute {name!r}")
