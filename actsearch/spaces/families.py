"""The activation families a placement slot chooses from, each with the space of its parameters.

Names are stable and define-by-run: ``<slot>.family`` picks the family (only when there are several), and
``<slot>.<family>.<parameter>`` is suggested only when that family is picked, so TPE sees a conditional space.

Example:
    >>> import optuna
    >>> families = FamilySpace.parse({"relu": {}, "layeract": {"alpha": {"low": 1e-6, "high": 0.1, "log": True}}})
    >>> trial = optuna.trial.FixedTrial({"act.family": "layeract", "act.layeract.alpha": 1e-5})
    >>> families.suggest(trial, "act").params["alpha"]
    1e-05
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from actsearch.activations import ActivationSpec, activation_parameters, list_activations
from actsearch.errors import ConfigError
from actsearch.spaces.errors import Problems, SearchSpaceError, join_path, unknown_name
from actsearch.spaces.params import Categorical, Fixed, Parameter, parse_parameter

__all__ = ["FamilySpace"]


@dataclass(frozen=True)
class FamilySpace:
    """Family name (as written, aliases such as ``la_silu`` allowed) -> its parameters' space.

    Parameters not mentioned keep the family's default and are not searched.
    """

    families: Mapping[str, Mapping[str, Parameter]]

    @classmethod
    def parse(cls, data: object) -> FamilySpace:
        """Families as written in a study file: a mapping of name -> parameters, or a list of names.

        Raises :class:`SearchSpaceError` with key paths relative to the ``families`` section.
        """
        if isinstance(data, list) and all(isinstance(name, str) for name in data):
            data = {name: {} for name in data}
        if not isinstance(data, Mapping):
            raise SearchSpaceError([("", "families must be a mapping of family name to its parameters "
                                         f"(or a list of names); got {data!r}")])
        if not data:
            raise SearchSpaceError([("", "at least one family is needed, e.g. {relu: {}, silu: {}}")])
        problems = Problems()
        known = list_activations(include_aliases=True)
        families: dict[str, dict[str, Parameter]] = {}
        for name, entry in data.items():
            if name not in known:
                problems.add(str(name), unknown_name("activation family", name, known))
                continue
            entry = {} if entry is None else entry
            if not isinstance(entry, Mapping):
                problems.add(name, f"the parameters of {name} must be a mapping such as {{alpha: 1.0e-5}}; "
                                   f"got {entry!r}")
                continue
            families[name] = _parse_family(name, entry, problems)
        problems.raise_if_any()
        return cls(families)

    @property
    def names(self) -> list[str]:
        return list(self.families)

    def choice(self) -> Categorical | None:
        """The ``<slot>.family`` parameter, or None when there is a single family."""
        return Categorical(tuple(self.families)) if len(self.families) > 1 else None

    def parameters(self, slot: str) -> dict[str, Parameter]:
        """Every parameter ``suggest`` may ask for in ``slot``, by name, in suggestion order."""
        out: dict[str, Parameter] = {}
        choice = self.choice()
        if choice is not None:
            out[f"{slot}.family"] = choice
        for family, params in self.families.items():
            out.update({f"{slot}.{family}.{name}": p for name, p in params.items() if p.suggested})
        return out

    def suggest(self, trial: Any, slot: str) -> ActivationSpec:
        """Activation for ``slot``: the family first, then only that family's parameters."""
        choice = self.choice()
        family = choice.suggest(trial, f"{slot}.family") if choice is not None else self.names[0]
        params = {name: p.suggest(trial, f"{slot}.{family}.{name}") for name, p in self.families[family].items()}
        return ActivationSpec(family, params)

    def centre_params(self, family: str, slot: str) -> dict[str, Any]:
        """Optuna params that make ``slot`` use ``family`` (a key of the space) at the centre of its ranges."""
        chosen = {f"{slot}.{family}.{name}": p.centre() for name, p in self.families[family].items() if p.suggested}
        return ({f"{slot}.family": family} if len(self.families) > 1 else {}) | chosen

    def baseline_params(self, family: str, params: Mapping[str, Any], slot: str) -> dict[str, Any]:
        """Optuna params that make ``slot`` use ``family`` with ``params`` (the rest at their defaults).

        The baseline may name an alias (``la_silu``) where the space lists its family (``layeract``) or the
        reverse: both are compared by their effective parameters. Raises :class:`SearchSpaceError` when
        no family of the space can express the baseline.
        """
        known = list_activations(include_aliases=True)
        if family not in known:
            raise SearchSpaceError([("family", unknown_name("activation family", family, known))])
        defaults = activation_parameters(family)
        unknown = [(str(name), _unknown_parameter(family, name, defaults)) for name in params if name not in defaults]
        if unknown:
            raise SearchSpaceError(unknown)
        try:
            target = ActivationSpec(family, params).family
        except ConfigError as error:
            raise SearchSpaceError([("", str(error))]) from None
        wanted = {**defaults, **params}
        mismatches: list[tuple[str, str]] = []
        for key, space in self.families.items():
            if ActivationSpec(key).family != target:
                continue
            chosen: dict[str, Any] = {}
            problems: list[tuple[str, str]] = []
            for name, default in activation_parameters(key).items():
                parameter = space.get(name, Fixed(default))
                value = wanted.get(name, default)
                if not parameter.contains(value):
                    where = f"families.{key}.{name}" if name in space else f"the default of {key} (not searched)"
                    problems.append((name, f"{value!r} is outside the space: {where} is {parameter.describe()}"))
                elif parameter.suggested:
                    chosen[f"{slot}.{key}.{name}"] = value
            if not problems:
                return ({f"{slot}.family": key} if len(self.families) > 1 else {}) | chosen
            mismatches.extend(problems)
        if not mismatches:
            raise SearchSpaceError([("family", f"family {family!r} is not in the space; space.families has: "
                                               f"{', '.join(self.names)}")])
        raise SearchSpaceError(mismatches)


def _parse_family(family: str, entry: Mapping, problems: Problems) -> dict[str, Parameter]:
    defaults = activation_parameters(family)
    params: dict[str, Parameter] = {}
    for name, value in entry.items():
        path = join_path(family, str(name))
        if name not in defaults:
            hint = "" if defaults else f"; write `{family}: {{}}`"
            problems.add(path, _unknown_parameter(family, name, defaults) + hint)
            continue
        try:
            params[name] = parse_parameter(value, default=defaults[name])
        except SearchSpaceError as error:
            problems.extend(path, error)
    for name, values in _corner_values(params).items():
        for value in values:
            try:
                ActivationSpec(family, {**_first_values(params), name: value})
            except ConfigError as error:
                problems.add(join_path(family, name), str(error))
                break
    return params


def _unknown_parameter(family: str, name: object, defaults: Mapping[str, Any]) -> str:
    if not defaults:
        return f"{family} has no parameters"
    return unknown_name(f"parameter of {family}", name, defaults)


def _corner_values(params: Mapping[str, Parameter]) -> dict[str, list[Any]]:
    """Values worth checking with the registry: both ends of a range, every choice, the fixed value."""
    corners: dict[str, list[Any]] = {}
    for name, parameter in params.items():
        if isinstance(parameter, Categorical):
            corners[name] = list(parameter.choices)
        elif isinstance(parameter, Fixed):
            corners[name] = [parameter.value]
        else:
            corners[name] = [parameter.low, parameter.high]
    return corners


def _first_values(params: Mapping[str, Parameter]) -> dict[str, Any]:
    return {name: values[0] for name, values in _corner_values(params).items()}
