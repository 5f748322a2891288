"""Study files: one YAML file says everything a search needs, checked as a whole before anything runs.

Keys: ``name``, ``description``, ``task`` (mirrors :class:`actsearch.trainers.Task`), ``space`` (see
:class:`actsearch.spaces.SearchSpace`), ``objectives``, ``sampler``, ``pruner``, ``budget``, ``execution``,
``storage``, ``seed`` and ``baselines``. Every problem is reported together, each as
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

import importlib.util
import inspect
import re
import typing
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import optuna
import torch
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from actsearch.errors import ConfigError
from actsearch.spaces import Baseline, Categorical, Fixed, SearchSpace, SearchSpaceError
from actsearch.spaces.errors import join_path, unknown_name
from actsearch.trainers import DATASETS, DEFAULT_HPARAMS, NETWORKS, Task, network_stages
from actsearch.trainers.corruptions import resolve_corruptions
from actsearch.trainers.hparams import resolve_hparams

__all__ = [
    "OBJECTIVES",
    "PRUNERS",
    "SAMPLERS",
    "Budget",
    "Execution",
    "Objective",
    "PrunerConfig",
    "SamplerConfig",
    "StudyFile",
    "StudyFileError",
    "TaskConfig",
    "format_errors",
    "load_study_file",
    "parse_duration",
    "validate_command",
]

OBJECTIVES: dict[str, str] = {
    "val_accuracy": "maximize",  # fraction of validation images classified right
    "corrupted_accuracy": "maximize",  # mean accuracy over the task's corruptions and severities
    "parameters": "minimize",  # trainable parameter count
    "throughput": "maximize",  # training images per second
    "latency": "minimize",  # inference milliseconds per image
}
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
JOURNAL_SUFFIXES = (".log", ".journal", ".jsonl")
_STUDY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_STORAGE_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_DURATION = re.compile(r"^(?:(\d+(?:\.\d*)?)d)?(?:(\d+(?:\.\d*)?)h)?(?:(\d+(?:\.\d*)?)m(?:in)?)?(?:(\d+(?:\.\d*)?)s)?$")
_PLAIN_TYPES = {"bool": (bool,), "int": (int,), "float": (int, float), "str": (str,), "None": (type(None),)}


class StudyFileError(ConfigError):
    """A study file is unreadable or invalid; ``errors`` lists every problem as ``<file>: <key.path>: <problem>``."""

    def __init__(self, errors: list[str]):
        self.errors = list(errors)
        super().__init__("\n".join(self.errors))


def format_errors(error: StudyFileError) -> str:
    """The errors, one per line, and a count: what ``actsearch validate`` prints."""
    count = len(error.errors)
    return "\n".join([*error.errors, f"{count} error{'s' if count != 1 else ''}; nothing was run or written"])


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


def _format_duration(seconds: float) -> str:
    for unit, size in (("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.3g} s"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class TaskConfig(_Section):
    """The ``task`` section: the fields of :class:`actsearch.trainers.Task` (``seed`` defaults to the study's)."""

    dataset: str = "digits"
    data_root: str | None = None
    download: bool = False
    network: str = "resnet20"
    width: float = Field(1.0, gt=0)
    epochs: int = Field(10, ge=1)
    train_subset: Any = None
    image_size: int | None = Field(None, ge=4)
    batch_size: int = Field(128, ge=1)
    val_fraction: float = Field(0.1, gt=0, lt=1)
    seed: int | None = Field(None, ge=0)
    corruptions: Any = None
    severities: list[int] = [1, 2, 3, 4, 5]
    corruption_images: int | None = Field(1000, ge=1)
    device: str = "auto"
    compile: bool = False
    deterministic: bool = False

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, value: str) -> str:
        if value not in DATASETS:
            raise ValueError(unknown_name("dataset", value, list(DATASETS)))
        return value

    @field_validator("network")
    @classmethod
    def _known_network(cls, value: str) -> str:
        if value not in NETWORKS and not value.startswith("tv:"):
            raise ValueError(unknown_name("network", value, list(NETWORKS))
                             + "; or 'tv:<name>' for a torchvision model")
        return value

    @field_validator("train_subset")
    @classmethod
    def _subset(cls, value: Any) -> Any:
        if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 1) or (
            isinstance(value, float) and 0 < value <= 1
        ):
            return value
        raise ValueError(f"an image count >= 1, a fraction in (0, 1], or null (all); got {value!r}")

    @field_validator("corruptions")
    @classmethod
    def _corruptions(cls, value: Any) -> Any:
        if value is None or value == "all":
            return value
        if not isinstance(value, (str, list)) or not value:
            raise ValueError(f"null, 'all', a category or a list of corruption names; got {value!r}")
        try:
            resolve_corruptions(value)
        except ConfigError as error:
            raise ValueError(str(error)) from None
        return value

    @field_validator("severities")
    @classmethod
    def _severities(cls, value: list[int]) -> list[int]:
        if not value or any(severity not in (1, 2, 3, 4, 5) for severity in value):
            raise ValueError(f"a non-empty list drawn from 1, 2, 3, 4, 5; got {value!r}")
        return value

    def to_task(self) -> Task:
        """The trainer's :class:`~actsearch.trainers.Task` (``seed`` None becomes 0 outside a study)."""
        return Task.from_dict(self.model_dump() | {"seed": self.seed or 0})


class Objective(_Section):
    """One objective: ``name`` in :data:`OBJECTIVES`, ``direction`` ``maximize`` or ``minimize``."""

    name: str
    direction: Literal["maximize", "minimize"]

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, str):
            data = {"name": data}
        if isinstance(data, Mapping):
            data = dict(data)
            direction = data.get("direction", OBJECTIVES.get(data.get("name"), "maximize"))
            data["direction"] = {"max": "maximize", "min": "minimize"}.get(direction, direction)
        return data

    @field_validator("name")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in OBJECTIVES:
            raise ValueError(unknown_name("objective", value, OBJECTIVES))
        return value


def _plain_options(cls: type) -> dict[str, tuple[type, ...]]:
    """Constructor options a YAML value can give (plain types), with the types each accepts."""
    options = {}
    for name, parameter in inspect.signature(cls).parameters.items():
        annotation = re.sub(r"<class '(\w+)'>", r"\1", str(parameter.annotation))
        tokens = [token.strip() for token in annotation.split("|")]
        if name != "seed" and all(token in _PLAIN_TYPES for token in tokens):
            options[name] = tuple(t for token in tokens for t in _PLAIN_TYPES[token])
    return options


def _check_options(kind: str, name: str, cls: type, options: Mapping[str, Any]) -> None:
    allowed = _plain_options(cls)
    for option, value in options.items():
        if option == "seed":
            raise ValueError(f"set the seed with the study's top-level `seed`, not in {kind}.options")
        if option not in allowed:
            raise ValueError(unknown_name(f"option of {kind} {name}", option, allowed))
        types = allowed[option]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            names = " or ".join(sorted({t.__name__ for t in types})).replace("NoneType", "null")
            raise ValueError(f"option {option} must be {names}; got {value!r}")


class _Choice(_Section):
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


class Budget(_Section):
    """The ``budget`` section: ``trials`` to finish, ``timeout`` (seconds or ``"2h"``) and ``max_retries``
    of a trial whose worker died or ran out of memory."""

    trials: int = Field(20, ge=1)
    timeout_s: float | None = Field(None, alias="timeout")
    max_retries: int = Field(2, ge=0)

    @field_validator("timeout_s", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float | None:
        return parse_duration(value)


class Execution(_Section):
    """The ``execution`` section: parallel ``workers`` (null: as many as the resources allow), resources per
    trial (``gpus_per_trial: auto`` = 1 where CUDA is available, else 0) and a Ray cluster address."""

    workers: int | None = Field(None, ge=1)
    gpus_per_trial: float = Field("auto", validate_default=True)
    cpus_per_trial: float = Field(1.0, gt=0)
    ray_address: str | None = None

    @field_validator("gpus_per_trial", mode="before")
    @classmethod
    def _gpus(cls, value: Any) -> float:
        if value == "auto":
            return 1.0 if torch.cuda.is_available() else 0.0
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
            return float(value)
        raise ValueError(f"a number >= 0 (fractions share a GPU) or 'auto'; got {value!r}")


class _Document(_Section):
    """Everything a study file holds, types checked; cross-checks happen in :func:`_study_from_data`."""

    name: str
    description: str | None = None
    task: TaskConfig = Field(default_factory=TaskConfig)
    space: dict[str, Any]
    objectives: list[Objective] = Field(default_factory=lambda: [Objective(name="val_accuracy")], min_length=1)
    sampler: SamplerConfig | None = None
    pruner: PrunerConfig | None = None
    budget: Budget = Field(default_factory=Budget)
    execution: Execution = Field(default_factory=Execution)
    storage: str | None = None
    seed: int = Field(0, ge=0)
    baselines: list[Any] = []

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
    task: TaskConfig
    space: SearchSpace
    objectives: list[Objective]
    sampler_config: SamplerConfig
    pruner_config: PrunerConfig
    budget: Budget
    execution: Execution
    storage: str | None
    seed: int
    baselines: list[Baseline]

    @property
    def directions(self) -> list[str]:
        return [objective.direction for objective in self.objectives]

    def summary(self) -> str:
        """Few lines saying what the study will do, as ``actsearch validate`` prints after OK."""
        task = self.task
        objectives = ", ".join(f"{o.name} ({o.direction})" for o in self.objectives)
        timeout = f", timeout {_format_duration(self.budget.timeout_s)}" if self.budget.timeout_s else ""
        lines = [
            f"study {self.name!r}: {task.dataset} / {task.network}, {self.budget.trials} trials x {task.epochs} "
            f"epochs{timeout}",
            f"objectives: {objectives}; sampler {self.sampler_config.name}, pruner {self.pruner_config.name}",
            f"baselines: {', '.join(b.name for b in self.baselines) or 'none'}",
            self.space.describe(),
        ]
        return "\n".join(lines)


def load_study_file(path: str | Path) -> StudyFile:
    """Read and validate a study file. Raises :class:`StudyFileError` listing every problem."""
    path = Path(path)
    return _study_from_data(_read_yaml(path), path)


def validate_command(path: str | Path) -> tuple[int, str]:
    """``actsearch validate FILE``: ``(0, "OK: ...")`` or ``(2, the errors)``."""
    try:
        study = load_study_file(path)
    except StudyFileError as error:
        return 2, format_errors(error)
    return 0, f"OK: {path}\n{study.summary()}"


class _Loader(yaml.SafeLoader):
    """YAML 1.1 loader that reads ``1e-5`` as a float (not a string) and rejects duplicate keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, typing.Hashable):
                continue
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping", node.start_mark, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StudyFileError([f"{path}: file not found"]) from None
    except IsADirectoryError:
        raise StudyFileError([f"{path}: is a directory, not a study file"]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise StudyFileError([f"{path}: cannot read: {error}"]) from None
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise StudyFileError([f"{path}: {where}invalid YAML: {error.problem or error.context}"]) from None
    except yaml.YAMLError as error:
        raise StudyFileError([f"{path}: invalid YAML: {error}"]) from None
    if data is None:
        raise StudyFileError([f"{path}: the file is empty; a study needs at least `name` and `space`"])
    if not isinstance(data, dict):
        raise StudyFileError([f"{path}: a study file is a mapping of keys (name, task, space, ...); "
                              f"got a {type(data).__name__}"])
    return data


def _study_from_data(data: dict[str, Any], path: Path) -> StudyFile:
    problems: list[tuple[str, str]] = []
    try:
        document = _Document.model_validate(data)
        invalid: set[str] = set()
    except ValidationError as error:
        problems += _pydantic_problems(error)
        invalid = {str(item["loc"][0]) for item in error.errors() if item["loc"]}
        document = _valid_sections(data, invalid)
    space = _parse_space(data, problems)
    baselines = _parse_baselines(data.get("baselines"), space, problems)
    sampler, pruner = _check_document(document, space, invalid, problems)
    if problems:
        raise StudyFileError([f"{path}: {key}: {message}" if key else f"{path}: {message}"
                              for key, message in problems])
    seed = document.seed
    return StudyFile(
        name=document.name,
        path=path,
        description=document.description,
        task=document.task if document.task.seed is not None else document.task.model_copy(update={"seed": seed}),
        space=space,
        objectives=list(document.objectives),
        sampler_config=sampler,
        pruner_config=pruner,
        budget=document.budget,
        execution=document.execution,
        storage=document.storage,
        seed=seed,
        baselines=baselines,
    )


def _valid_sections(data: Mapping[str, Any], invalid: set[str]) -> _Document:
    """The document from its valid sections alone (placeholders for the required ones), so the checks across
    sections still run on those; the invalid sections are already reported."""
    kept = {key: value for key, value in data.items() if key in _Document.model_fields and key not in invalid}
    return _Document.model_validate({"name": "invalid", "space": {}} | kept)


def _parse_space(data: Mapping[str, Any], problems: list[tuple[str, str]]) -> SearchSpace | None:
    if not isinstance(data.get("space"), Mapping):
        return None  # reported by the schema
    task = data.get("task") if isinstance(data.get("task"), Mapping) else {}
    network = task.get("network", TaskConfig.model_fields["network"].default)
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
                problems.append((f"space.train.{key}", str(error)))
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
            if name == "corrupted_accuracy" and "task" not in invalid and not document.task.corruptions:
                problems.append((f"objectives[{index}]", "corrupted_accuracy needs task.corruptions ('all' or a list "
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
    if several and objectives_valid and "pruner" not in invalid and pruner.name != "none":
        problems.append(("pruner", f"pruner {pruner.name} cannot be used with several objectives (Optuna prunes "
                                   "single-objective studies only); set `pruner: none`"))
    if "task" not in invalid:
        try:
            document.task.model_copy(update={"seed": document.task.seed or 0}).to_task()
        except ConfigError as error:
            problems.append(("task", str(error)))
    return sampler, pruner


def _pydantic_problems(error: ValidationError) -> list[tuple[str, str]]:
    problems = []
    for item in error.errors(include_url=False):
        loc = tuple(item["loc"])
        path = ""
        for key in loc:
            path = join_path(path, key)
        kind, value = item["type"], item.get("input")
        if kind == "extra_forbidden":
            message = unknown_name("key", loc[-1], _allowed_keys(loc[:-1]))
        elif kind == "missing":
            message = "required key is missing"
        elif kind in ("value_error", "assertion_error"):
            message = item["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        elif kind in ("model_type", "model_attributes_type", "dict_type"):
            message = f"must be a mapping; got {value!r}"
        else:
            message = f"{item['msg'][0].lower()}{item['msg'][1:]}; got {value!r}"
        problems.append((path, message))
    return problems


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
