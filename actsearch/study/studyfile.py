"""Study files: one YAML file says everything a search needs, checked as a whole before anything runs.

Keys: ``name``, ``description``, ``imports`` (see :mod:`actsearch.study.plugins`), ``task`` (a
:class:`actsearch.trainers.Task`), ``space`` (see :class:`actsearch.spaces.SearchSpace`), ``objectives``,
``sampler``, ``pruner``, ``budget``, ``execution``, ``tracking``, ``storage``, ``seed``, ``baselines`` and
``confirm`` (see :class:`~actsearch.study.sections.Confirm`). Every problem is reported together, each as
``<file>: <key.path>: <problem>``; ``actsearch validate FILE`` prints them (exit 2) or ``OK``.

Example:
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "demo.yaml"
    >>> _ = path.write_text('''
    ... name: demo
    ... task: {dataset: digits, network: smallcnn, epochs: 2}
    ... space:
    ...   families: {relu: {}, layeract: {alpha: {low: 1e-6, high: 0.1, log: true}}}
    ...   train: {lr: {low: 0.02, high: 0.3, log: true}}
    ... baselines: [{family: relu}]
    ... ''')
    >>> study = load_study_file(path)
    >>> study.directions, study.sampler_config.name, study.pruner_config.name
    (['maximize'], 'tpe', 'median')
    >>> study.space.baseline_params(study.baselines[0])
    {'act.family': 'relu', 'train.lr': 0.1}
"""

from __future__ import annotations

import re
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from actsearch.errors import ConfigError, ProblemsError, join_path, pydantic_problems
from actsearch.spaces import Baseline, Categorical, Fixed, SearchSpace, SearchSpaceError
from actsearch.study.objectives import OBJECTIVES
from actsearch.study.plugins import ImportEntry, load_plugins, resolve_imports
from actsearch.study.sections import (
    SAMPLERS,
    Budget,
    Confirm,
    Execution,
    Objective,
    PrunerConfig,
    SamplerConfig,
    Section,
    Tracking,
    format_duration,
)
from actsearch.study.storage import JOURNAL_SUFFIXES
from actsearch.trainers import DEFAULT_HPARAMS, Task, network_stages
from actsearch.trainers.hparams import resolve_hparams
from actsearch.yamlio import load_yaml, read_text

__all__ = ["StudyFile", "StudyFileError", "format_errors", "load_study_file", "validate_command"]

_STUDY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_STORAGE_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


class StudyFileError(ConfigError):
    """A study file is unreadable or invalid; ``errors`` lists every problem as ``<file>: <key.path>: <problem>``."""

    def __init__(self, errors: list[str]):
        self.errors = list(errors)
        super().__init__("\n".join(self.errors))


def format_errors(error: StudyFileError) -> str:
    """The errors, one per line, and a count: what ``actsearch validate`` prints."""
    count = len(error.errors)
    return "\n".join([*error.errors, f"{count} error{'s' if count != 1 else ''}; nothing was run or written"])


class _Document(Section):
    """Everything a study file holds, types checked; cross-checks happen in :func:`_study_from_data`."""

    name: str
    description: str | None = None
    imports: list[str] = []
    task: Task = Field(default_factory=Task)
    space: dict[str, Any]
    objectives: list[Objective] = Field(default_factory=lambda: [Objective(name="val_accuracy")], min_length=1)
    sampler: SamplerConfig | None = None
    pruner: PrunerConfig | None = None
    budget: Budget = Field(default_factory=Budget)
    execution: Execution = Field(default_factory=Execution)
    tracking: Tracking = Field(default_factory=Tracking)
    storage: str | None = None
    seed: int = Field(0, ge=0)
    baselines: list[Any] = []
    confirm: Confirm = Field(default_factory=Confirm)

    @model_validator(mode="before")
    @classmethod
    def _task_seed(cls, data: Any) -> Any:
        """The task's seed defaults to the study's."""
        if isinstance(data, dict) and isinstance(data.get("task", {}), dict) and "seed" not in data.get("task", {}):
            data = {**data, "task": {**data.get("task", {}), "seed": data.get("seed", 0)}}
        return data

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        if not _STUDY_NAME.match(value):
            raise ValueError(f"a study name is letters, digits, '.', '_' or '-' (it names runs/<name>/); got {value!r}")
        return value

    @field_validator("storage")
    @classmethod
    def _storage(cls, value: str | None) -> str | None:
        if value is None or _STORAGE_URL.match(value) or value.endswith(JOURNAL_SUFFIXES):
            return value
        raise ValueError(f"{value!r} is neither an Optuna storage URL (sqlite:///runs.db, postgresql://user@host/db, "
                         f"mysql://...) nor a journal file path ending in {', '.join(JOURNAL_SUFFIXES)}; "
                         "null = runs/<name>/journal.log")


@dataclass(frozen=True)
class StudyFile:
    """A validated study file, as the search uses it."""

    name: str
    path: Path
    description: str | None
    task: Task
    space: SearchSpace
    objectives: list[Objective]
    sampler_config: SamplerConfig
    pruner_config: PrunerConfig
    budget: Budget
    execution: Execution
    storage: str | None
    seed: int
    baselines: list[Baseline]
    imports: tuple[ImportEntry, ...] = ()
    tracking: Tracking = Tracking()
    confirm: Confirm = Confirm()

    @property
    def directions(self) -> list[str]:
        return [objective.direction for objective in self.objectives]

    @property
    def objective_names(self) -> list[str]:
        return [objective.name for objective in self.objectives]

    def summary(self) -> str:
        """Few lines saying what the study will do, as ``actsearch validate`` prints after OK."""
        task = self.task
        objectives = ", ".join(f"{o.name} ({o.direction})" for o in self.objectives)
        timeout = f", timeout {format_duration(self.budget.timeout_s)}" if self.budget.timeout_s else ""
        lines = [
            f"study {self.name!r}: {task.dataset} / {task.network}, {self.budget.trials} trials x {task.epochs} "
            f"epochs{timeout}",
            f"objectives: {objectives}; sampler {self.sampler_config.name}, pruner {self.pruner_config.name}",
            f"baselines: {', '.join(b.name for b in self.baselines) or 'none'}",
            f"confirm: top {self.confirm.top}{' and the baselines' if self.confirm.baselines else ''} on seeds "
            f"{self.confirm.seed_list(self.seed)}, evaluated on {self.confirm.evaluate}"
            + (f", task overrides {self.confirm.task}" if self.confirm.task else ""),
            self.space.describe(),
        ]
        return "\n".join(lines)


def load_study_file(path: str | Path) -> StudyFile:
    """Read and validate a study file. Raises :class:`StudyFileError` listing every problem."""
    path = Path(path)
    return _study_from_data(_read_document(path), path)


def validate_command(path: str | Path) -> tuple[int, str]:
    """``actsearch validate FILE``: ``(0, "OK: ...")`` or ``(2, the errors)``; also builds the proxy network on the
    CPU (placement patterns must match its activation modules) and adds warnings to the OK."""
    try:
        study = load_study_file(path)
    except StudyFileError as error:
        return 2, format_errors(error)
    from actsearch.study.preflight import check_network, study_warnings  # builds networks: imports torch

    try:
        check_network(study)
    except ConfigError as error:
        return 2, format_errors(StudyFileError([f"{path}: {error}"]))
    warnings = "".join(f"\nwarning: {warning}" for warning in study_warnings(study))
    return 0, f"OK: {path}\n{study.summary()}{warnings}"


def _read_document(path: Path) -> dict[str, Any]:
    try:
        data = load_yaml(read_text(path, "study file"), str(path))
    except ConfigError as error:
        raise StudyFileError([str(error)]) from None
    if data is None:
        raise StudyFileError([f"{path}: the file is empty; a study needs at least `name` and `space`"])
    if not isinstance(data, dict):
        raise StudyFileError([f"{path}: a study file is a mapping of keys (name, task, space, ...); "
                              f"got a {type(data).__name__}"])
    return data


def _study_from_data(data: dict[str, Any], path: Path) -> StudyFile:
    problems: list[tuple[str, str]] = []
    imports = _load_imports(data.get("imports", []), path, problems)
    try:
        document = _Document.model_validate(data)
        invalid: set[str] = set()
    except ValidationError as error:
        problems += pydantic_problems(error, _allowed_keys)
        invalid = {str(item["loc"][0]) for item in error.errors() if item["loc"]}
        document = _valid_sections(data, invalid)
    space = _parse_space(data, problems)
    baselines = _parse_baselines(data.get("baselines"), space, problems)
    sampler, pruner = _check_document(document, space, invalid, problems)
    if problems:
        raise StudyFileError([f"{path}: {key}: {message}" if key else f"{path}: {message}"
                              for key, message in problems])
    return StudyFile(
        name=document.name,
        path=path,
        description=document.description,
        task=document.task,
        space=space,
        objectives=list(document.objectives),
        sampler_config=sampler,
        pruner_config=pruner,
        budget=document.budget,
        execution=document.execution,
        storage=document.storage,
        seed=document.seed,
        baselines=baselines,
        imports=tuple(imports),
        tracking=document.tracking,
        confirm=document.confirm,
    )


def _load_imports(raw: Any, path: Path, problems: list[tuple[str, str]]) -> list[ImportEntry]:
    """Import the study's modules (and the entry points) before anything names a family or network."""
    if not isinstance(raw, list):
        return []  # reported by the schema
    try:
        imports = resolve_imports(raw, path.parent)
        load_plugins(imports)
    except ConfigError as error:
        key, _, message = str(error).partition(": ")
        problems.append((key, message) if key.startswith("imports[") else ("imports", str(error)))
        return []
    return imports


def _valid_sections(data: dict[str, Any], invalid: set[str]) -> _Document:
    """The document from its valid sections alone (placeholders for the required ones), so the checks across
    sections still run on those; the invalid sections are already reported."""
    kept = {key: value for key, value in data.items() if key in _Document.model_fields and key not in invalid}
    return _Document.model_validate({"name": "invalid", "space": {}} | kept)


def _parse_space(data: dict[str, Any], problems: list[tuple[str, str]]) -> SearchSpace | None:
    if not isinstance(data.get("space"), dict):
        return None  # reported by the schema
    task = data.get("task") if isinstance(data.get("task"), dict) else {}
    network = task.get("network", Task.model_fields["network"].default)
    try:
        stages = network_stages(network)
    except (ConfigError, TypeError, ValueError, KeyError):
        stages = ["stage"]  # the network itself is reported by the schema; this keeps per_stage checkable
    try:
        space = SearchSpace.from_dict(data["space"], stages=stages, train_defaults=DEFAULT_HPARAMS)
    except SearchSpaceError as error:
        problems += [(join_path("space", key) if key else "space", message) for key, message in error.problems]
        return None
    for key, parameter in space.training.parameters.items():
        for value in _corners(parameter):
            try:
                resolve_hparams({key: value})
            except ConfigError as error:
                problems.append((f"space.train.{key}", str(error).removeprefix(f"train.{key}: ")))
                break
    return space


def _corners(parameter: Any) -> list[Any]:
    if isinstance(parameter, Categorical):
        return list(parameter.choices)
    if isinstance(parameter, Fixed):
        return [parameter.value]
    return [parameter.low, parameter.high]


def _parse_baselines(raw: Any, space: SearchSpace | None, problems: list[tuple[str, str]]) -> list[Baseline]:
    if not isinstance(raw, list):
        return []  # absent, or reported by the schema
    baselines: list[Baseline] = []
    names: dict[str, int] = {}
    for index, entry in enumerate(raw):
        path = join_path("baselines", index)
        try:
            baseline = Baseline.parse(entry)
            if space is not None:
                space.baseline_params(baseline)
        except SearchSpaceError as error:
            problems += [(join_path(path, key) if key else path, message) for key, message in error.problems]
            continue
        if baseline.name in names:
            problems.append((join_path(path, "name"), f"baseline name {baseline.name!r} is already used by "
                                                      f"baselines[{names[baseline.name]}]; give each a distinct name"))
        names[baseline.name] = index
        baselines.append(baseline)
    return baselines


def _check_document(
    document: _Document, space: SearchSpace | None, invalid: set[str], problems: list[tuple[str, str]]
) -> tuple[SamplerConfig, PrunerConfig]:
    """Checks across sections, each run only when the sections it reads are valid."""
    names = [objective.name for objective in document.objectives]
    several = len(names) > 1
    objectives_valid = "objectives" not in invalid
    if objectives_valid:
        for index, name in enumerate(names):
            if name in names[:index]:
                problems.append((f"objectives[{index}].name", f"objective {name!r} is listed twice"))
            if OBJECTIVES[name].needs_corruptions and "task" not in invalid and not document.task.corruptions:
                problems.append((f"objectives[{index}]", f"{name} needs task.corruptions ('all' or a list "
                                                         "of corruption names)"))
    sampler = document.sampler or SamplerConfig(name="nsgaii" if several else "tpe")
    pruner = document.pruner or PrunerConfig(name="none" if several else "median")
    if "sampler" not in invalid:
        for package in sampler.missing_packages():
            problems.append(("sampler.name", f"sampler {sampler.name} needs the {package!r} package (pip install "
                                             f"{package}); or choose another: {', '.join(SAMPLERS)}"))
        if sampler.name == "cmaes" and several and objectives_valid:
            problems.append(("sampler.name", "cmaes optimizes a single objective; for several use "
                                             "nsgaii, tpe, gp or random"))
        if sampler.name == "cmaes" and space is not None and space.has_categorical:
            categorical = [name for name, p in space.parameters().items() if isinstance(p, Categorical)]
            problems.append(("sampler.name", "cmaes cannot sample categorical parameters and this space has "
                                             f"{', '.join(categorical)}; use tpe or gp, or keep one family "
                                             "and only ranges"))
    target = document.budget.target
    if isinstance(target, list) and objectives_valid and "budget" not in invalid and len(target) != len(names):
        problems.append(("budget.target", f"one value (or null) per objective: {len(names)} objectives "
                                          f"({', '.join(names)}), got {len(target)} values"))
    if several and objectives_valid and "pruner" not in invalid and pruner.name != "none":
        problems.append(("pruner", f"pruner {pruner.name} cannot be used with several objectives (Optuna prunes "
                                   "single-objective studies only); set `pruner: none`"))
    if "confirm" not in invalid and "task" not in invalid:
        _check_confirm_task(document, problems)
    return sampler, pruner


def _check_confirm_task(document: _Document, problems: list[tuple[str, str]]) -> None:
    """The confirm runs' task is the study's with ``confirm.task`` applied: it must be a valid task too."""
    try:
        document.task.replace(**document.confirm.task)
    except ProblemsError as error:
        problems += [(join_path("confirm.task", key) if key else "confirm.task", message)
                     for key, message in error.problems]
    except ConfigError as error:
        problems.append(("confirm.task", str(error)))


def _allowed_keys(loc: tuple) -> list[str]:
    """Keys of the schema section at ``loc`` (list indices skipped), aliases as written in the file."""
    model: type[BaseModel] = _Document
    for key in loc:
        if isinstance(key, int):
            continue
        annotation = model.model_fields[key].annotation
        model = next(_models_in(annotation))
    return [field.alias or name for name, field in model.model_fields.items()]


def _models_in(annotation: Any):
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for argument in typing.get_args(annotation):
        yield from _models_in(argument)
