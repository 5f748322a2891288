"""The search space: families x placement x training hyperparameters, suggested define-by-run.

A sampled trial decodes, deterministically, into a :class:`TrialConfig` (placement plan + training
overrides); decoding a finished trial's params replays the same code on an ``optuna.trial.FixedTrial``,
so what is exported is exactly what was trained.

Example:
    >>> import optuna
    >>> space = SearchSpace.from_dict({
    ...     "families": {"relu": {}, "layeract": {"alpha": {"low": 1e-6, "high": 0.1, "log": True}}},
    ...     "train": {"lr": {"low": 0.02, "high": 0.3, "log": True}},
    ... })
    >>> study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    >>> trial = study.ask()
    >>> config = space.suggest(trial)
    >>> space.decode(trial.params) == config
    True
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import optuna

from actsearch.activations import PlacementPlan
from actsearch.errors import ConfigError
from actsearch.spaces.baseline import Baseline
from actsearch.spaces.errors import Problems, SearchSpaceError, unknown_name
from actsearch.spaces.families import FamilySpace
from actsearch.spaces.params import Categorical, Parameter
from actsearch.spaces.placement import Placement
from actsearch.spaces.training import TrainingSpace

__all__ = ["SPACE_KEYS", "SearchSpace", "TrialConfig"]

SPACE_KEYS = ("families", "placement", "train")


@dataclass(frozen=True)
class TrialConfig:
    """What one trial trains: where which activation goes, and the training overrides.

    ``to_dict()`` is what the search stores in ``trial.user_attrs["config"]``.
    """

    plan: PlacementPlan
    train: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"plan": self.plan.to_dict(), "train": dict(self.train)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrialConfig:
        return cls(PlacementPlan.from_dict(data["plan"]), dict(data.get("train") or {}))

    def families(self) -> list[str]:
        """Sorted families the plan uses."""
        return self.plan.families()


@dataclass(frozen=True)
class SearchSpace:
    """Activation families (with parameter spaces), their placement, and training hyperparameters."""

    families: FamilySpace
    placement: Placement
    training: TrainingSpace
    train_defaults: Mapping[str, Any] | None = None

    @classmethod
    def from_dict(
        cls,
        data: Mapping[str, Any],
        *,
        stages: Sequence[str] = (),
        train_defaults: Mapping[str, Any] | None = None,
    ) -> SearchSpace:
        """Space from the ``space`` section of a study file.

        ``stages`` are the network's stage names (for ``placement: per_stage``); ``train_defaults`` the
        trainer's hyperparameter defaults: they list the allowed ``train`` keys, give their types, and fill
        the training values a baseline leaves out (None: any key, no defaults).
        Raises :class:`SearchSpaceError` listing every problem with its key path in the section.
        """
        if not isinstance(data, Mapping):
            raise SearchSpaceError([("", f"the space must be a mapping with keys {', '.join(SPACE_KEYS)}; "
                                         f"got {data!r}")])
        problems = Problems()
        for key in data:
            if key not in SPACE_KEYS:
                problems.add(str(key), unknown_name("key", key, SPACE_KEYS))
        if "families" not in data:
            problems.add("families", "required: the activation families to search, e.g. {relu: {}, silu: {}}")
        parts: dict[str, Any] = {}
        for key, parse in (
            ("families", lambda value: FamilySpace.parse(value)),
            ("placement", lambda value: Placement.parse(value, stages)),
            ("train", lambda value: TrainingSpace.parse(value, train_defaults)),
        ):
            if key in data or key != "families":
                try:
                    parts[key] = parse(data.get(key))
                except SearchSpaceError as error:
                    problems.extend(key, error)
        problems.raise_if_any()
        return cls(parts["families"], parts["placement"], parts["train"], train_defaults)

    def parameters(self) -> dict[str, Parameter]:
        """Every parameter a trial may be asked for, by Optuna name, in suggestion order."""
        out: dict[str, Parameter] = {}
        for slot in self.placement.slots:
            out.update(self.families.parameters(slot.name))
        out.update(self.training.names())
        return out

    @property
    def has_categorical(self) -> bool:
        """Whether some suggested parameter is categorical (CMA-ES cannot sample those)."""
        return any(isinstance(p, Categorical) for p in self.parameters().values())

    def suggest(self, trial: Any) -> TrialConfig:
        """Ask ``trial`` (Optuna ``Trial`` or ``FixedTrial``) for one configuration."""
        specs = {slot.name: self.families.suggest(trial, slot.name) for slot in self.placement.slots}
        return TrialConfig(self.placement.plan(specs), self.training.suggest(trial))

    def decode(self, params: Mapping[str, Any]) -> TrialConfig:
        """The configuration ``suggest`` produced for these trial params (extra params are ignored).

        Raises :class:`~actsearch.errors.ConfigError` when a needed param is missing or out of the space.
        """
        try:
            with warnings.catch_warnings():
                # FixedTrial only warns about a value out of range; Parameter.suggest raises a ConfigError for it
                warnings.simplefilter("ignore", UserWarning)
                return self.suggest(optuna.trial.FixedTrial(dict(params)))
        except ConfigError:
            raise
        except ValueError as error:
            raise ConfigError(f"params do not fit this space ({error}); given: {dict(params)!r}") from None

    def baseline_params(self, baseline: Baseline | Mapping[str, Any]) -> dict[str, Any]:
        """Optuna params (for ``study.enqueue_trial``) that make every slot use the baseline's activation.

        Raises :class:`SearchSpaceError` (paths relative to the baseline) when it lies outside the space.
        """
        if not isinstance(baseline, Baseline):
            baseline = Baseline.parse(baseline)
        problems = Problems()
        params: dict[str, Any] = {}
        try:
            for slot in self.placement.slots:
                params.update(self.families.baseline_params(baseline.family, baseline.params, slot.name))
        except SearchSpaceError as error:
            problems.extend("", error)
        try:
            params.update(self.training.baseline_params(baseline.train, self.train_defaults))
        except SearchSpaceError as error:
            problems.extend("", error)
        problems.raise_if_any()
        return params

    def centre_params(self, family: str) -> dict[str, Any]:
        """Optuna params of ``family`` (a key of ``families``) in every slot, each searched parameter (training
        ones included) at the centre of its range: what covering a family enqueues.

        >>> space = SearchSpace.from_dict({"families": {"relu": {}, "elu": {"alpha": {"low": 0.5, "high": 1.5}}}})
        >>> space.centre_params("elu")
        {'act.family': 'elu', 'act.elu.alpha': 1.0}
        """
        params: dict[str, Any] = {}
        for slot in self.placement.slots:
            params.update(self.families.centre_params(family, slot.name))
        params.update({name: p.centre() for name, p in self.training.names().items()})
        return params

    def family_of(self, params: Mapping[str, Any]) -> list[str]:
        """The space's family keys (as written, e.g. ``la_hardsilu``) that a trial's params use, sorted."""
        if len(self.families.names) == 1:
            return list(self.families.names)
        return sorted({params[f"{slot.name}.family"] for slot in self.placement.slots
                       if f"{slot.name}.family" in params})

    def describe(self) -> str:
        """One line per searched parameter and per fixed value, as shown by ``actsearch validate``."""
        lines = [f"placement: {self.placement.mode} ({', '.join(slot.name for slot in self.placement.slots)})"]
        lines += [f"{name}: {p.describe()}" for name, p in self.parameters().items()]
        for family, params in self.families.families.items():
            lines += [f"{family}.{name}: {p.describe()}" for name, p in params.items() if not p.suggested]
        lines += [f"train.{key}: {p.describe()}" for key, p in self.training.parameters.items() if not p.suggested]
        return "\n".join(lines)
