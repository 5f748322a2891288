"""Serializable activation choices: :class:`ActivationSpec` (one family with its parameters) and
:class:`PlacementPlan` (which spec goes where in a model).

Example::

    from actsearch.activations import ActivationSpec, PlacementPlan

    spec = ActivationSpec("la_silu", {"alpha": 0.1})      # family "layeract", params gate="sigmoid", alpha=0.1
    assert ActivationSpec.from_yaml(spec.to_yaml()) == spec
    plan = PlacementPlan(default=ActivationSpec("relu"), rules=(("layer4", spec),))
    plan.spec_for("layer4.1.relu").family                 # "layeract"
    PlacementPlan.from_json(plan.to_json()) == plan       # True
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import yaml
from torch import nn

from actsearch.errors import ConfigError, unknown_name
from actsearch.yamlio import load_yaml
from actsearch.activations.registry import (
    ActivationSpecError,
    activation_parameters,
    get_activation,
    resolve_activation,
)

__all__ = ["ActivationSpec", "PlacementPlan", "PlacementRule", "create_activation"]

_VALUE_KINDS = "a number, string, boolean, null, list or mapping"


def _freeze(value: Any, where: str) -> Any:
    """Immutable copy of a JSON-like value (lists become tuples, mappings read-only)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(item, f"{where}[{index}]") for index, item in enumerate(value))
    if isinstance(value, Mapping):
        if not all(isinstance(key, str) for key in value):
            raise ActivationSpecError(f"{where}: mapping keys must be strings, got {list(value)!r}")
        return MappingProxyType({key: _freeze(item, f"{where}.{key}") for key, item in value.items()})
    raise ActivationSpecError(f"{where}={value!r} is not allowed; allowed: {_VALUE_KINDS}")


def _thaw(value: Any) -> Any:
    """Plain JSON/YAML-friendly copy of a frozen value."""
    if isinstance(value, tuple):
        return [_thaw(item) for item in value]
    if isinstance(value, Mapping):
        return {key: _thaw(item) for key, item in value.items()}
    return value


def _hashable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return tuple(sorted((key, _hashable(item)) for key, item in value.items()))
    if isinstance(value, tuple):
        return tuple(_hashable(item) for item in value)
    return value


def _check_keys(what: str, data: Mapping, allowed: tuple[str, ...], required: tuple[str, ...] = ()) -> None:
    for key in data:
        if key not in allowed:
            raise ActivationSpecError(f"{what}: {unknown_name('key', key, allowed)}")
    for key in required:
        if key not in data:
            raise ActivationSpecError(f"{what}: missing key {key!r}")


def _load_json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ActivationSpecError(f"{what}: invalid JSON: {exc}") from None


def _load_yaml(text: str, what: str) -> Any:
    try:
        return load_yaml(text, what)
    except ConfigError as exc:
        raise ActivationSpecError(str(exc)) from None


@dataclass(frozen=True)
class ActivationSpec:
    """A validated activation family with keyword parameters; ``build()`` makes a fresh module.

    An alias is resolved at construction: ``ActivationSpec("la_hardsilu")`` has family ``"layeract"`` and
    params ``{"gate": "hardsigmoid"}``. Only the parameters given (and alias presets) are stored; the others
    keep the family's defaults. Unknown families, unknown parameter names and invalid values raise
    :class:`ActivationSpecError` naming what is allowed.
    """

    family: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        family, presets = resolve_activation(self.family)
        if not isinstance(self.params, Mapping):
            raise ActivationSpecError(
                f"{family}: params={self.params!r} is not allowed; allowed: a mapping of parameter names to values"
            )
        allowed = list(activation_parameters(family))
        for name, value in self.params.items():
            if name not in allowed:
                raise ActivationSpecError(f"{family}: {unknown_name('parameter', name, allowed)}")
            if name in presets and value != presets[name]:
                raise ActivationSpecError(
                    f"{self.family}: {name}={value!r} contradicts the alias, which sets {name}={presets[name]!r}; "
                    f"use family {family!r} to choose {name}"
                )
        params = {**presets, **self.params}
        frozen = MappingProxyType({name: _freeze(value, f"{family}: {name}") for name, value in params.items()})
        object.__setattr__(self, "family", family)
        object.__setattr__(self, "params", frozen)
        self.build()

    def __hash__(self) -> int:
        return hash((self.family, _hashable(self.params)))

    def __repr__(self) -> str:
        return f"ActivationSpec(family={self.family!r}, params={_thaw(self.params)!r})"

    def build(self) -> nn.Module:
        """A new module of this family with these parameters."""
        cls = get_activation(self.family)
        try:
            return cls(**_thaw(self.params))
        except ActivationSpecError:
            raise
        except (TypeError, ValueError) as exc:
            raise ActivationSpecError(f"{self.family}: invalid parameters {_thaw(self.params)!r}: {exc}") from None

    def with_params(self, **params: Any) -> ActivationSpec:
        """A copy with some parameters set (or replaced)."""
        return ActivationSpec(self.family, {**self.params, **params})

    def to_dict(self) -> dict[str, Any]:
        return {"family": self.family, "params": _thaw(self.params)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ActivationSpec:
        if not isinstance(data, Mapping):
            raise ActivationSpecError(
                f"activation spec must be a mapping with keys 'family' and 'params' or a family name, got {data!r}"
            )
        _check_keys("activation spec", data, ("family", "params"), required=("family",))
        params = data.get("params")
        return cls(data["family"], {} if params is None else params)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ActivationSpec:
        return cls.parse(_load_json(text, "activation spec"))

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_yaml(cls, text: str) -> ActivationSpec:
        return cls.parse(_load_yaml(text, "activation spec"))

    @classmethod
    def parse(cls, obj: str | Mapping[str, Any] | ActivationSpec) -> ActivationSpec:
        """A spec from a family or alias name, a ``{"family", "params"}`` mapping, or a spec."""
        if isinstance(obj, ActivationSpec):
            return obj
        if isinstance(obj, str):
            return cls(obj)
        return cls.from_dict(obj)


def create_activation(name_or_spec: str | Mapping[str, Any] | ActivationSpec, **params: Any) -> nn.Module:
    """A new activation module: ``create_activation("la_silu", alpha=0.1)``."""
    spec = ActivationSpec.parse(name_or_spec)
    return (spec.with_params(**params) if params else spec).build()


def _matches(pattern: str, module_name: str) -> bool:
    return (
        module_name == pattern
        or module_name.startswith(pattern + ".")
        or fnmatch.fnmatchcase(module_name, pattern)
    )


@dataclass(frozen=True)
class PlacementRule:
    """Use ``spec`` for modules whose qualified name equals ``pattern``, lies under it (``pattern + "."``)
    or matches it as a shell pattern (``"layer*.0.relu"``)."""

    pattern: str
    spec: ActivationSpec

    def __post_init__(self) -> None:
        if not isinstance(self.pattern, str) or not self.pattern:
            raise ActivationSpecError(
                f"placement rule pattern {self.pattern!r} is not allowed; allowed: a non-empty module name or "
                "shell pattern"
            )
        object.__setattr__(self, "spec", ActivationSpec.parse(self.spec))

    def matches(self, module_name: str) -> bool:
        return _matches(self.pattern, module_name)

    def to_dict(self) -> dict[str, Any]:
        return {"pattern": self.pattern, "spec": self.spec.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PlacementRule:
        if not isinstance(data, Mapping):
            raise ActivationSpecError(f"placement rule must be a mapping with keys 'pattern' and 'spec', got {data!r}")
        _check_keys("placement rule", data, ("pattern", "spec"), required=("pattern", "spec"))
        return cls(data["pattern"], ActivationSpec.parse(data["spec"]))


def _rule(item: Any) -> PlacementRule:
    if isinstance(item, PlacementRule):
        return item
    if isinstance(item, Mapping):
        return PlacementRule.from_dict(item)
    if isinstance(item, (tuple, list)) and len(item) == 2:
        return PlacementRule(item[0], item[1])
    raise ActivationSpecError(
        f"placement rule {item!r} is not allowed; allowed: a PlacementRule, a (pattern, spec) pair or a mapping "
        "with keys 'pattern' and 'spec'"
    )


@dataclass(frozen=True)
class PlacementPlan:
    """Which activation goes where: the first rule matching a module's qualified name wins, else ``default``
    (``None``: leave the module alone).

    ``PlacementPlan.parse`` accepts a plan, a spec, a family name or a mapping of either.
    """

    default: ActivationSpec | None = None
    rules: tuple[PlacementRule, ...] = ()

    def __post_init__(self) -> None:
        if self.default is not None:
            object.__setattr__(self, "default", ActivationSpec.parse(self.default))
        if isinstance(self.rules, (str, Mapping)) or not hasattr(self.rules, "__iter__"):
            raise ActivationSpecError(f"placement plan rules={self.rules!r} is not allowed; allowed: a list of rules")
        rules = []
        for index, item in enumerate(self.rules):
            try:
                rules.append(_rule(item))
            except ActivationSpecError as exc:
                raise ActivationSpecError(f"rules[{index}]: {exc}") from None
        object.__setattr__(self, "rules", tuple(rules))

    def spec_for(self, module_name: str) -> ActivationSpec | None:
        for rule in self.rules:
            if rule.matches(module_name):
                return rule.spec
        return self.default

    def families(self) -> list[str]:
        specs = [rule.spec for rule in self.rules] + ([self.default] if self.default is not None else [])
        return sorted({spec.family for spec in specs})

    def to_dict(self) -> dict[str, Any]:
        return {
            "default": None if self.default is None else self.default.to_dict(),
            "rules": [rule.to_dict() for rule in self.rules],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PlacementPlan:
        if not isinstance(data, Mapping):
            raise ActivationSpecError(
                f"placement plan must be a mapping with keys 'default' and 'rules', got {data!r}"
            )
        _check_keys("placement plan", data, ("default", "rules"))
        default = data.get("default")
        if default is not None:
            try:
                default = ActivationSpec.parse(default)
            except ActivationSpecError as exc:
                raise ActivationSpecError(f"default: {exc}") from None
        rules = data.get("rules") or ()
        if not isinstance(rules, (list, tuple)):
            raise ActivationSpecError(f"placement plan rules={rules!r} is not allowed; allowed: a list of rules")
        return cls(default, tuple(rules))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> PlacementPlan:
        return cls.parse(_load_json(text, "placement plan"))

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_yaml(cls, text: str) -> PlacementPlan:
        return cls.parse(_load_yaml(text, "placement plan"))

    @classmethod
    def parse(cls, obj: PlacementPlan | ActivationSpec | str | Mapping[str, Any]) -> PlacementPlan:
        """A plan from a plan, a spec or family name (used everywhere), or a mapping of a plan or a spec."""
        if isinstance(obj, PlacementPlan):
            return obj
        if isinstance(obj, (ActivationSpec, str)):
            return cls(default=ActivationSpec.parse(obj))
        if isinstance(obj, Mapping) and not {"default", "rules"} & set(obj):
            return cls(default=ActivationSpec.from_dict(obj))
        return cls.from_dict(obj)
