"""The study file's small sections: objectives, sampler, pruner, budget, execution and confirm.

Each is a strict pydantic model; :mod:`actsearch.study.studyfile` assembles them with the task and the
space into a :class:`~actsearch.study.StudyFile`.

Example:
    >>> SamplerConfig.model_validate("random").name
    'random'
    >>> Budget.model_validate({"trials": 8, "timeout": "1h30m"}).timeout_s
    5400.0
    >>> Objective.model_validate("latency").direction
    'minimize'
"""

from __future__ import annotations

import importlib.util
import inspect
import re
import types
import typing
import warnings
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import optuna
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from actsearch.errors import unknown_name
from actsearch.study.objectives import OBJECTIVES

__all__ = [
    "PRUNERS",
    "SAMPLERS",
    "Budget",
    "Confirm",
    "Execution",
    "Objective",
    "PrunerConfig",
    "SamplerConfig",
    "Section",
    "Tracking",
    "format_duration",
    "parse_duration",
]

SAMPLERS: dict[str, type[optuna.samplers.BaseSampler]] = {
    "tpe": optuna.samplers.TPESampler,
    "random": optuna.samplers.RandomSampler,
    "gp": optuna.samplers.GPSampler,
    "cmaes": optuna.samplers.CmaEsSampler,
    "nsgaii": optuna.samplers.NSGAIISampler,
}
# TPE for a conditional space: model the parameters jointly, per group of trials sharing a sub-space (the
# family's parameters exist only when it is chosen), and keep parallel workers from asking the same point.
TPE_DEFAULTS = {"multivariate": True, "group": True, "constant_liar": True}
SAMPLER_PACKAGES = {"cmaes": ("cmaes",), "gp": ("scipy",)}
PRUNERS: dict[str, type[optuna.pruners.BasePruner]] = {
    "median": optuna.pruners.MedianPruner,
    "successive_halving": optuna.pruners.SuccessiveHalvingPruner,
    "hyperband": optuna.pruners.HyperbandPruner,
    "none": optuna.pruners.NopPruner,
}
_DURATION = re.compile(r"^(?:(\d+(?:\.\d*)?)d)?(?:(\d+(?:\.\d*)?)h)?(?:(\d+(?:\.\d*)?)m(?:in)?)?(?:(\d+(?:\.\d*)?)s)?$")
_PLAIN_TYPES = {"bool": bool, "int": int, "float": float, "str": str, "None": type(None)}


def parse_duration(value: object) -> float | None:
    """Seconds from a number of seconds or a text such as ``"2h"``, ``"30m"``, ``"1h30m"``, ``"45s"``.

    >>> parse_duration("1h30m"), parse_duration(90), parse_duration(None)
    (5400.0, 90.0, None)
    """
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value.replace(" ", "").lower())) and any(match.groups()):
        days, hours, minutes, secs = (float(group or 0) for group in match.groups())
        seconds = ((days * 24 + hours) * 60 + minutes) * 60 + secs
    else:
        raise ValueError(f"a duration is seconds or a text like '2h', '30m', '1h30m', '45s'; got {value!r}")
    if seconds <= 0:
        raise ValueError(f"a duration must be > 0 (null for none); got {value!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """``5400`` -> ``"1.5 h"``: a duration as a person reads it."""
    for unit, size in (("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.3g} s"


class Section(BaseModel):
    """Base of every study file section: unknown keys and loose types are errors."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Objective(Section):
    """One objective: ``name`` in :data:`~actsearch.study.objectives.OBJECTIVES`, ``direction`` ``maximize`` or
    ``minimize`` (the table's by default)."""

    name: str
    direction: Literal["maximize", "minimize"]

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, str):
            data = {"name": data}
        if isinstance(data, Mapping):
            data = dict(data)
            spec = OBJECTIVES.get(data.get("name"))
            direction = data.get("direction", spec.direction if spec else "maximize")
            data["direction"] = {"max": "maximize", "min": "minimize"}.get(direction, direction)
        return data

    @field_validator("name")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in OBJECTIVES:
            raise ValueError(unknown_name("objective", value, OBJECTIVES))
        return value


def _union_members(annotation: Any) -> tuple[Any, ...]:
    """``int | None`` -> ``(int, NoneType)``, also when Optuna's modules leave annotations as strings."""
    if isinstance(annotation, str):
        return tuple(_PLAIN_TYPES.get(token.strip()) for token in annotation.split("|"))
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return typing.get_args(annotation)
    return (annotation,)


def _plain_options(cls: type) -> dict[str, tuple[type, ...]]:
    """Constructor options a YAML value can give (plain types), with the types each accepts."""
    options = {}
    for name, parameter in inspect.signature(cls).parameters.items():
        members = _union_members(parameter.annotation)
        if name != "seed" and all(member in _PLAIN_TYPES.values() for member in members):
            options[name] = tuple(set(members) | ({int} if float in members else set()))
    return options


def _check_options(kind: str, name: str, cls: type, options: Mapping[str, Any]) -> None:
    allowed = _plain_options(cls)
    for option, value in options.items():
        if option == "seed":
            raise ValueError(f"set the seed with the study's top-level `seed`, not in {kind}.options")
        if option not in allowed:
            raise ValueError(unknown_name(f"option of {kind} {name}", option, allowed))
        accepted = allowed[option]
        if not isinstance(value, accepted) or (isinstance(value, bool) and bool not in accepted):
            names = " or ".join(sorted({t.__name__ for t in accepted})).replace("NoneType", "null")
            raise ValueError(f"option {option} must be {names}; got {value!r}")


class _Choice(Section):
    """A section naming one entry of ``choices`` (or the name alone) with its constructor ``options``."""

    kind: ClassVar[str]
    choices: ClassVar[Mapping[str, type]]
    name: str
    options: dict[str, Any] = {}

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        return {"name": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _valid(self) -> _Choice:
        if self.name not in self.choices:
            raise ValueError(unknown_name(self.kind, self.name, self.choices))
        _check_options(self.kind, self.name, self.choices[self.name], self.options)
        return self


class SamplerConfig(_Choice):
    """The ``sampler`` section: ``name`` in :data:`SAMPLERS` (or the name alone) and constructor ``options``.

    TPE starts from :data:`TPE_DEFAULTS`; the options given override them.
    """

    kind: ClassVar[str] = "sampler"
    choices: ClassVar[Mapping[str, type]] = SAMPLERS
    name: str = "tpe"

    @model_validator(mode="after")
    def _builds(self) -> SamplerConfig:
        if not self.missing_packages():  # reported with its install line by the study checks
            self.build()  # the sampler checks its options' values itself
        return self

    def missing_packages(self) -> list[str]:
        """Optional packages this sampler needs that are not installed."""
        return [package for package in SAMPLER_PACKAGES.get(self.name, ()) if importlib.util.find_spec(package) is None]

    def build(self, seed: int | None = None) -> optuna.samplers.BaseSampler:
        """The Optuna sampler. Give each process asking trials its own ``seed``, or they ask the same points."""
        options = (TPE_DEFAULTS if self.name == "tpe" else {}) | self.options
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return SAMPLERS[self.name](seed=seed, **options)


class PrunerConfig(_Choice):
    """The ``pruner`` section: ``name`` in :data:`PRUNERS` (or the name alone) and constructor ``options``."""

    kind: ClassVar[str] = "pruner"
    choices: ClassVar[Mapping[str, type]] = PRUNERS
    name: str = "median"

    @model_validator(mode="after")
    def _builds(self) -> PrunerConfig:
        self.build()  # the pruner checks its options' values itself
        return self

    def build(self) -> optuna.pruners.BasePruner:
        """The Optuna pruner; it sees ``val_accuracy`` once per epoch."""
        return PRUNERS[self.name](**self.options)


class Budget(Section):
    """The ``budget`` section: ``trials`` to finish, ``timeout`` (seconds or ``"2h"``), ``max_retries`` of a
    trial whose worker died or ran out of memory, ``trial_timeout`` (seconds, ``"10m"``, ``auto`` or null) after
    which one trial fails with reason "timeout", ``cover_families`` (run each family once first), and the stop
    rules ``patience`` (stop after that many finished trials without a better value) and ``target`` (stop once
    a trial reaches it; with several objectives a list, one value or null per objective, reached together by
    one trial; see :mod:`actsearch.study.stop_rules`).

    >>> Budget.model_validate({"trial_timeout": "10m"}).trial_timeout_s, Budget().trial_timeout_s
    (600.0, 'auto')
    """

    trials: int = Field(20, ge=1)
    timeout_s: float | None = Field(None, alias="timeout")
    max_retries: int = Field(2, ge=0)
    # "auto": a multiple of the slowest completed baseline (see actsearch.search.timeouts); null: no limit
    trial_timeout_s: float | Literal["auto"] | None = Field("auto", alias="trial_timeout")
    cover_families: bool = True
    patience: int | None = Field(None, ge=1)
    target: float | list[float | None] | None = None

    @field_validator("trials", mode="before")
    @classmethod
    def _whole_number(cls, value: Any) -> Any:
        # YAML reads 1e3 as a float: accept it when it is a whole number.
        return int(value) if isinstance(value, float) and value.is_integer() else value

    @field_validator("timeout_s", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float | None:
        return parse_duration(value)

    @field_validator("trial_timeout_s", mode="before")
    @classmethod
    def _trial_duration(cls, value: Any) -> float | str | None:
        if value == "auto":
            return value
        try:
            return parse_duration(value)
        except ValueError:
            raise ValueError(
                "allowed: seconds or a text like '10m', '1h30m' (a limit per trial), 'auto' (a multiple of the "
                f"slowest baseline's time) or null (no limit); got {value!r}"
            ) from None
    @field_validator("target", mode="before")
    @classmethod
    def _numbers(cls, value: Any) -> Any:
        """Integers are numbers too (``target: 1`` for an accuracy of 1)."""
        if isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, list):
            return [float(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value]
        return value


class Execution(Section):
    """The ``execution`` section: parallel ``workers`` (null: as many as the resources allow), resources per
    trial (``gpus_per_trial: auto`` = 1 when the Ray cluster has a GPU, else 0; decided once Ray is up) and a
    Ray cluster address."""

    workers: int | None = Field(None, ge=1)
    gpus_per_trial: float | Literal["auto"] = "auto"
    cpus_per_trial: float = Field(1.0, gt=0)
    ray_address: str | None = None

    @field_validator("gpus_per_trial", mode="before")
    @classmethod
    def _gpus(cls, value: Any) -> float | str:
        if value == "auto":
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
            return float(value)
        raise ValueError(f"a number >= 0 (fractions share a GPU) or 'auto'; got {value!r}")


class Tracking(Section):
    """The ``tracking`` section: which trials keep their trained ``weights`` as Optuna artifacts (``all``,
    ``none``, or a number k: the best k by the first objective) and whether each trial's training curves are
    written as TensorBoard scalars under ``runs/<name>/tb/`` (when the ``tensorboard`` package is installed)."""

    weights: Literal["all", "none"] | int = "all"
    tensorboard: bool = True

    @field_validator("weights")
    @classmethod
    def _positive(cls, value: str | int) -> str | int:
        if isinstance(value, int) and value < 1:
            raise ValueError(f"all, none, or a number k >= 1 (keep the best k); got {value}")
        return value


class Confirm(Section):
    """The ``confirm`` section: how ``actsearch confirm`` re-trains the finalists.

    ``top`` distinct configurations (the best by the first objective; several objectives: the Pareto set,
    knee first), on ``seeds`` (a count N: the study seed + 0..N-1; or an explicit list), with every baseline
    too when ``baselines``; ``task`` overrides the study's task for these runs (checked against it by the study
    file) and ``evaluate`` says which split scores them: ``test`` (never seen by the search) or ``val``.

    >>> Confirm.model_validate({"seeds": 3}).seed_list(study_seed=10)
    [10, 11, 12]
    """

    top: int = Field(3, ge=1)
    seeds: int | list[int] = 5
    baselines: bool = True
    task: dict[str, Any] = {}
    evaluate: Literal["test", "val"] = "test"

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, value: int | list[int]) -> int | list[int]:
        if isinstance(value, int):
            if value < 1:
                raise ValueError(f"a seed count must be >= 1 (or give a list of seeds); got {value}")
            return value
        if not value or any(seed < 0 for seed in value) or len(set(value)) != len(value):
            raise ValueError(f"a list of seeds must be non-empty, distinct and >= 0; got {value!r}")
        return value

    @field_validator("task")
    @classmethod
    def _no_seed(cls, value: dict[str, Any]) -> dict[str, Any]:
        if "seed" in value:
            raise ValueError("the confirm runs take their seeds from confirm.seeds; remove confirm.task.seed")
        return value

    def seed_list(self, study_seed: int, count: int | None = None) -> list[int]:
        """The task seeds of the confirm runs; ``count`` (``--seeds N``) replaces the section's seeds."""
        if count is not None:
            return [study_seed + index for index in range(count)]
        if isinstance(self.seeds, int):
            return [study_seed + index for index in range(self.seeds)]
        return list(self.seeds)
