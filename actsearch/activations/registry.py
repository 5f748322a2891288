"""A timm-style registry of activation families.

Every family is an ``nn.Module`` class registered under a lowercase name with
:func:`register_activation`; its constructor takes keyword parameters that all have defaults. An alias is a
name for a family with some parameters preset (``la_silu`` is ``layeract`` with ``gate="sigmoid"``).

Example::

    import torch
    from torch import nn
    from actsearch.activations import register_activation, create_activation

    @register_activation("square_plus", aliases={"square_plus_wide": {"b": 16.0}})
    class SquarePlus(nn.Module):
        def __init__(self, b: float = 4.0):
            super().__init__()
            self.b = b

        def forward(self, x):
            return 0.5 * (x + torch.sqrt(x * x + self.b))

    module = create_activation("square_plus_wide")   # SquarePlus(b=16.0)
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from torch import nn

from actsearch.errors import ConfigError, unknown_name

__all__ = [
    "ActivationSpecError",
    "activation_parameters",
    "family_name",
    "get_activation",
    "is_activation_module",
    "list_activations",
    "register_activation",
    "resolve_activation",
]

ModuleClass = TypeVar("ModuleClass", bound=type[nn.Module])

_FAMILIES: dict[str, type[nn.Module]] = {}
_ALIASES: dict[str, tuple[str, dict[str, Any]]] = {}
_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")

# torch's own activation modules that have a registered family doing the same thing
_TORCH_EQUIVALENTS: dict[type[nn.Module], str] = {
    nn.ReLU: "relu",
    nn.LeakyReLU: "leaky_relu",
    nn.PReLU: "prelu",
    nn.ELU: "elu",
    nn.SELU: "selu",
    nn.SiLU: "silu",
    nn.Hardswish: "hardsilu",
    nn.GELU: "gelu",
    nn.Mish: "mish",
}

# modules that apply_activations replaces; gates such as nn.Sigmoid / nn.Hardsigmoid are left alone
_TORCH_ACTIVATION_TYPES: tuple[type[nn.Module], ...] = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.PReLU,
    nn.ELU,
    nn.SELU,
    nn.SiLU,
    nn.Hardswish,
    nn.GELU,
    nn.Mish,
)


class ActivationSpecError(ConfigError):
    """An unknown activation family, parameter or parameter value; the message lists what is allowed."""


def _default_name(cls: type) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", cls.__name__).lower()


def _qualified(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _constructor_parameters(cls: type[nn.Module]) -> dict[str, Any]:
    parameters = {}
    for parameter in list(inspect.signature(cls.__init__).parameters.values())[1:]:
        if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            continue
        if parameter.kind is inspect.Parameter.POSITIONAL_ONLY or parameter.default is inspect.Parameter.empty:
            raise TypeError(
                f"activation family {cls.__name__}: constructor parameter {parameter.name!r} must be a keyword "
                "parameter with a default"
            )
        parameters[parameter.name] = parameter.default
    return parameters


def _ignore_inplace(cls: type[nn.Module]) -> None:
    """Let the constructor take and ignore ``inplace``, as timm's ``act_layer(inplace=True)`` and torchvision's
    ``Conv2dNormActivation`` call it; the signature seen by :func:`activation_parameters` stays the family's own."""
    original = cls.__init__
    if getattr(original, "ignores_inplace", False) or "inplace" in inspect.signature(original).parameters:
        return

    @functools.wraps(original)
    def __init__(self, *args: Any, inplace: bool = False, **kwargs: Any) -> None:
        original(self, *args, **kwargs)

    __init__.ignores_inplace = True
    cls.__init__ = __init__


def register_activation(
    name: str | None = None, *, aliases: Mapping[str, Mapping[str, Any]] | None = None
) -> Callable[[ModuleClass], ModuleClass]:
    """Class decorator registering an activation family under ``name`` (default: the class name in snake case).

    ``aliases`` maps extra names to preset keyword parameters, e.g. ``{"la_silu": {"gate": "sigmoid"}}``.
    The constructor also accepts and ignores ``inplace`` (timm and torchvision builders pass it).
    Registering the same class again is a no-op; registering another class under a taken name is an error.
    """

    def decorator(cls: ModuleClass) -> ModuleClass:
        family = name if name is not None else _default_name(cls)
        if not _NAME_PATTERN.match(family):
            raise ActivationSpecError(
                f"activation family name {family!r} is not allowed; use lowercase letters, digits and '_'"
            )
        parameters = _constructor_parameters(cls)
        taken = _FAMILIES.get(family)
        if taken is not None and _qualified(taken) != _qualified(cls):
            raise ActivationSpecError(f"activation family {family!r} is already registered by {_qualified(taken)}")
        new_aliases = {}
        for alias, presets in (aliases or {}).items():
            if not _NAME_PATTERN.match(alias):
                raise ActivationSpecError(f"alias name {alias!r} is not allowed; use lowercase letters, digits and '_'")
            if alias in _FAMILIES or (alias in _ALIASES and _ALIASES[alias][0] != family):
                raise ActivationSpecError(f"alias {alias!r} is already registered")
            unknown = sorted(set(presets) - set(parameters))
            if unknown:
                raise ActivationSpecError(
                    f"alias {alias!r} presets unknown parameters {unknown} of family {family!r}; "
                    f"allowed: {', '.join(parameters)}"
                )
            new_aliases[alias] = (family, dict(presets))
        if family in _ALIASES:
            raise ActivationSpecError(f"activation family name {family!r} is already registered as an alias")
        _ignore_inplace(cls)
        _FAMILIES[family] = cls
        _ALIASES.update(new_aliases)
        cls.family_name = family
        return cls

    return decorator


def list_activations(include_aliases: bool = False) -> list[str]:
    """Sorted names of the registered families (and of their aliases with ``include_aliases=True``)."""
    names = set(_FAMILIES)
    if include_aliases:
        names |= set(_ALIASES)
    return sorted(names)


def _unknown_family(name: object) -> ActivationSpecError:
    return ActivationSpecError(unknown_name("activation family", name, list_activations(include_aliases=True)))


def resolve_activation(name: str) -> tuple[str, dict[str, Any]]:
    """``(family, presets)`` for a family or alias name; raises :class:`ActivationSpecError` if unknown."""
    if not isinstance(name, str):
        raise _unknown_family(name)
    key = name.lower()
    if key in _FAMILIES:
        return key, {}
    if key in _ALIASES:
        family, presets = _ALIASES[key]
        return family, dict(presets)
    raise _unknown_family(name)


def get_activation(name_or_class: str | type[nn.Module]) -> Callable[..., nn.Module]:
    """What builds the activation: the family class for a family name, family class or torch activation class
    (``nn.ReLU``); for an alias, ``functools.partial(family_class, **presets)`` so its presets are kept.

    Either can be given as timm's ``act_layer`` or torchvision's ``activation_layer``:

    >>> get_activation("la_hardsilu")(inplace=True).gate
    'hardsigmoid'
    """
    if isinstance(name_or_class, type):
        if name_or_class in _FAMILIES.values():
            return name_or_class
        if name_or_class in _TORCH_EQUIVALENTS:
            return _FAMILIES[_TORCH_EQUIVALENTS[name_or_class]]
        raise _unknown_family(name_or_class.__name__)
    family, presets = resolve_activation(name_or_class)
    if name_or_class.lower() in _ALIASES:
        return functools.partial(_FAMILIES[family], **presets)
    return _FAMILIES[family]


def activation_parameters(name: str) -> dict[str, object]:
    """Parameter name -> default for a family or alias, with the alias presets applied."""
    family, presets = resolve_activation(name)
    return {**_constructor_parameters(_FAMILIES[family]), **presets}


def family_name(module: nn.Module) -> str | None:
    """Registered family of a module instance (``None`` for unregistered modules)."""
    name = getattr(type(module), "family_name", None)
    return name if _FAMILIES.get(name) is type(module) else None


def is_activation_module(module: nn.Module) -> bool:
    """True for torch activation modules (ReLU, ReLU6, LeakyReLU, PReLU, ELU, SELU, SiLU, Hardswish, GELU, Mish)
    and for modules of registered families; gates such as ``nn.Sigmoid`` are not activations here."""
    return isinstance(module, _TORCH_ACTIVATION_TYPES) or isinstance(module, tuple(_FAMILIES.values()))
