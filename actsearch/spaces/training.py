"""Training hyperparameters searched (or fixed) alongside the activations, suggested as ``train.<key>``.

Only the keys the space names go into a trial's ``train`` dict: they override the trainer's defaults.

Example:
    >>> import optuna
    >>> space = TrainingSpace.parse({"lr": {"low": 0.02, "high": 0.3, "log": True}, "label_smoothing": 0.1})
    >>> space.suggest(optuna.trial.FixedTrial({"train.lr": 0.1}))
    {'lr': 0.1, 'label_smoothing': 0.1}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from actsearch.spaces.errors import Problems, SearchSpaceError, unknown_name
from actsearch.spaces.params import NO_DEFAULT, Parameter, parse_parameter

__all__ = ["TRAIN_PREFIX", "TrainingSpace"]

TRAIN_PREFIX = "train"


@dataclass(frozen=True)
class TrainingSpace:
    """Training key -> its parameter space."""

    parameters: Mapping[str, Parameter]

    @classmethod
    def parse(cls, data: object, defaults: Mapping[str, Any] | None = None) -> TrainingSpace:
        """The ``train`` section of a space; ``defaults`` (the trainer's hyperparameters) lists the allowed keys
        and their types. Raises :class:`SearchSpaceError` with key paths relative to the section."""
        if data is None:
            return cls({})
        if not isinstance(data, Mapping):
            raise SearchSpaceError([("", f"train must be a mapping of training hyperparameter to value or range; "
                                         f"got {data!r}")])
        problems = Problems()
        parameters: dict[str, Parameter] = {}
        for key, value in data.items():
            if defaults is not None and key not in defaults:
                problems.add(str(key), unknown_name("training hyperparameter", key, sorted(defaults)))
                continue
            try:
                default = defaults[key] if defaults is not None else NO_DEFAULT
                parameters[key] = parse_parameter(value, default=default)
            except SearchSpaceError as error:
                problems.extend(str(key), error)
        problems.raise_if_any()
        return cls(parameters)

    def names(self) -> dict[str, Parameter]:
        """Suggested parameters by Optuna name."""
        return {f"{TRAIN_PREFIX}.{key}": p for key, p in self.parameters.items() if p.suggested}

    def suggest(self, trial: Any) -> dict[str, Any]:
        return {key: p.suggest(trial, f"{TRAIN_PREFIX}.{key}") for key, p in self.parameters.items()}

    def baseline_params(self, values: Mapping[str, Any], defaults: Mapping[str, Any] | None) -> dict[str, Any]:
        """Optuna params for a baseline's training values; searched keys it leaves out take their default.

        Raises :class:`SearchSpaceError` with paths ``train.<key>``.
        """
        problems = Problems()
        for key in values:
            if key not in self.parameters:
                problems.add(f"{TRAIN_PREFIX}.{key}", unknown_name("training key of the space", key, self.parameters)
                             + " (a baseline can only set what the space's train section names)")
        chosen: dict[str, Any] = {}
        for key, parameter in self.parameters.items():
            if key in values:
                value = values[key]
            elif not parameter.suggested:
                continue
            elif defaults is not None and key in defaults:
                value = defaults[key]
            else:
                problems.add(f"{TRAIN_PREFIX}.{key}", f"searched by the space ({parameter.describe()}) with no "
                                                      "default known; give the baseline's value in its train section")
                continue
            if not parameter.contains(value):
                origin = "" if key in values else " (the trainer's default; set it in the baseline's train section)"
                problems.add(f"{TRAIN_PREFIX}.{key}",
                             f"{value!r}{origin} is outside the space: train.{key} is {parameter.describe()}")
            elif parameter.suggested:
                chosen[f"{TRAIN_PREFIX}.{key}"] = value
        problems.raise_if_any()
        return chosen
