"""Hand over the winner: export the best trial's configuration, and read it back.

``export_best`` writes the best trial (one objective) or a picked member of the Pareto set (several)
to JSON or YAML: its placement plan, training config, task, objective values and provenance (study,
trial, dataset, network, seed, package versions). ``load_config`` reads such a file, or a bare
activation spec / placement plan file, into an :class:`ExportedConfig`.

Once a confirm stage has finished (``actsearch confirm``), the default pick is the configuration with the
best confirmed mean (several objectives: the knee of the confirmed Pareto set), and its confirm statistics
go into the provenance. Pick rules, on the search's proxy scores: ``"proxy"`` (the default before a confirm
stage), ``"best:<objective>"`` (best on one objective), ``"knee"`` (the Pareto trial closest to the ideal
point after min-max scaling each objective), ``"<index>"`` (0 = first of the candidates ranked by the first
objective, as ``actsearch status`` lists them), ``"trial:<number>"``.

Example:
    >>> import json, pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "plan.json"
    >>> _ = path.write_text(json.dumps({"family": "layeract", "params": {"alpha": 1e-5}}))
    >>> load_config(path).plan.families()
    ['layeract']
"""

from __future__ import annotations

import datetime
import json
import platform
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import optuna
import yaml
from optuna.trial import FrozenTrial, TrialState

from actsearch.version import __version__
from actsearch.activations import PlacementPlan
from actsearch.errors import ConfigError
from actsearch.study.artifacts import download_weights
from actsearch.study.confirm_report import confirm_summary_of, confirmed_winner
from actsearch.study.ranking import knee_index, ranked_candidates
from actsearch.study.resume import load_study
from actsearch.study.storage import run_directory, storage_description
from actsearch.study.studyfile import StudyFile
from actsearch.study.trial_log import write_text_atomic
from actsearch.spaces import TrialConfig
from actsearch.trainers import Task
from actsearch.yamlio import load_yaml, read_text

__all__ = ["EXPORT_FORMAT", "ExportedConfig", "export_best", "load_config", "pick_trial", "ranked_candidates"]

EXPORT_FORMAT = "actsearch-config/1"
_SUFFIXES = {".json": "json", ".yaml": "yaml", ".yml": "yaml"}


@dataclass(frozen=True)
class ExportedConfig:
    """An exported configuration: what to train, and where it came from.

    ``plan`` is the placement plan (give it to ``apply_activations``), ``train`` the hyperparameters
    overriding ``DEFAULT_HPARAMS``, ``task`` the ``Task.to_dict()`` searched on (empty for a bare plan
    file), ``objectives`` the trial's objective values by name, ``metrics`` its other results,
    ``provenance`` the study, trial and package versions, ``pareto`` every Pareto trial of a
    multi-objective study.
    """

    plan: PlacementPlan
    train: dict = field(default_factory=dict)
    task: dict = field(default_factory=dict)
    objectives: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    provenance: dict = field(default_factory=dict)
    pareto: list = field(default_factory=list)

    def to_trial_config(self) -> TrialConfig:
        return TrialConfig(plan=self.plan, train=dict(self.train))

    def to_task(self) -> Task:
        """The task the configuration was searched on; ConfigError for a bare plan file."""
        if not self.task:
            raise ConfigError("this configuration has no task (it is a bare plan file); give the task explicitly")
        return Task.from_dict(self.task)

    def to_dict(self) -> dict:
        content = {
            "format": EXPORT_FORMAT,
            "plan": self.plan.to_dict(),
            "train": self.train,
            "task": self.task,
            "objectives": self.objectives,
            "metrics": self.metrics,
            "provenance": self.provenance,
        }
        if self.pareto:
            content["pareto"] = self.pareto
        return content

    @classmethod
    def from_dict(cls, content: dict) -> ExportedConfig:
        return cls(
            plan=PlacementPlan.parse(content["plan"]),
            train=dict(content.get("train") or {}),
            task=dict(content.get("task") or {}),
            objectives=dict(content.get("objectives") or {}),
            metrics=dict(content.get("metrics") or {}),
            provenance=dict(content.get("provenance") or {}),
            pareto=list(content.get("pareto") or []),
        )


def load_config(path: str | Path) -> ExportedConfig:
    """Read an exported configuration, a trial config (plan + train) or a bare spec/plan file.

    Raises ConfigError naming the file and the problem.
    """
    path = Path(path)
    text = read_text(path, "configuration file")
    if _SUFFIXES.get(path.suffix.lower(), "yaml") == "json":
        try:
            content = json.loads(text)
        except json.JSONDecodeError as error:
            raise ConfigError(f"{path}: not valid JSON: {error}") from None
    else:
        content = load_yaml(text, str(path))  # YAML reads JSON too
    try:
        if isinstance(content, dict) and "plan" in content:
            return ExportedConfig.from_dict(content)
        if isinstance(content, (dict, str)):
            return ExportedConfig(plan=PlacementPlan.parse(content))
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None
    raise ConfigError(
        f"{path}: expected an exported configuration (a mapping with 'plan'), a placement plan "
        f"(a mapping with 'default'/'rules'), an activation spec (a mapping with 'family') or a family "
        f"name; got {type(content).__name__}"
    )


def _format_of(path: Path) -> str:
    try:
        return _SUFFIXES[path.suffix.lower()]
    except KeyError:
        raise ConfigError(
            f"{path}: unknown file type {path.suffix!r}; allowed: {', '.join(_SUFFIXES)}"
        ) from None


def export_best(
    study_file: StudyFile,
    output_path: str | Path,
    *,
    pick: str | None = None,
    runs_dir: str | Path = ".",
    weights_path: str | Path | None = None,
) -> Path:
    """Write the best (or picked) trial of the study to ``output_path`` (.json, .yaml or .yml), and with
    ``weights_path`` that trial's stored weights (see :mod:`actsearch.study.artifacts`).

    Writes atomically (temporary file + rename) and returns the path. ConfigError when the study has
    no complete trial, the pick rule is invalid, the suffix is unknown, or the weights were not stored.
    """
    output_path = Path(output_path)
    file_format = _format_of(output_path)
    study = load_study(study_file, runs_dir=runs_dir)
    objectives = [objective.name for objective in study_file.objectives]
    confirmed = _finished_confirm(study_file, runs_dir) if pick is None else None
    winner = confirmed_winner(confirmed) if confirmed is not None else None
    if winner is not None and winner["proxy_trial"] is not None:
        trial = study.trials[winner["proxy_trial"]]
    elif winner is None:
        trial = pick_trial(study, objectives, None if pick == "proxy" else pick)
    else:
        trial = None  # a baseline confirmed without a search trial
    config = _trial_config(study_file, trial) if trial is not None else _config(winner["config"])
    provenance = _provenance(study_file, study, trial, pick, runs_dir)
    if winner is not None:
        provenance |= {"pick": "confirmed", "confirm": _confirm_provenance(winner, confirmed)}
    if weights_path is not None:
        if trial is None:
            raise ConfigError("the confirmed winner is a baseline that no search trial ran, so no weights were "
                              "stored for it; export without --weights, or use --pick proxy")
        download_weights(trial, run_directory(study_file.name, runs_dir), weights_path)
    exported = ExportedConfig(
        **config,
        task=study.user_attrs.get("actsearch", {}).get("task") or study_file.task.to_dict(),
        objectives=dict(zip(objectives, trial.values)) if trial is not None else
        {name: stats["mean"] for name, stats in winner["objectives"].items()},
        metrics={k: v for k, v in trial.user_attrs.get("result", {}).items() if k != "history"} if trial else {},
        provenance=provenance,
        pareto=_pareto_entries(study_file, study, objectives) if len(objectives) > 1 else [],
    )
    content = exported.to_dict()
    if file_format == "json":
        text = json.dumps(content, indent=2) + "\n"
    else:
        text = yaml.safe_dump(content, sort_keys=False)
    return write_text_atomic(output_path, text)


def _trial_config(study_file: StudyFile, trial: FrozenTrial) -> dict:
    return _config(trial.user_attrs.get("config") or study_file.space.decode(trial.params).to_dict())


def _config(config: dict) -> dict:
    return {"plan": PlacementPlan.from_dict(config["plan"]), "train": dict(config.get("train") or {})}


def _finished_confirm(study_file: StudyFile, runs_dir: str | Path) -> dict | None:
    summary = confirm_summary_of(study_file, runs_dir=runs_dir)
    return summary if summary is not None and summary["finished"] else None


def _confirm_provenance(winner: dict, summary: dict) -> dict:
    kept = ("label", "kind", "seeds", "values", "mean", "std", "ci95", "objectives", "vs_baselines", "failed")
    return {**{key: winner[key] for key in kept}, "evaluate": summary["evaluate"], "task": summary["task"],
            "fidelity": summary["fidelity"], "verdict": summary["verdict"]}


def _pareto_entries(study_file: StudyFile, study: optuna.Study, objectives: list[str]) -> list[dict]:
    entries = []
    for trial in ranked_candidates(study):
        config = _trial_config(study_file, trial)
        entries.append(
            {
                "trial": trial.number,
                "objectives": dict(zip(objectives, trial.values)),
                "plan": config["plan"].to_dict(),
                "train": config["train"],
            }
        )
    return entries


def _provenance(
    study_file: StudyFile, study: optuna.Study, trial: FrozenTrial | None, pick: str | None, runs_dir: str | Path
) -> dict:
    task = study.user_attrs.get("actsearch", {}).get("task", {})
    provenance = {
        "study": study.study_name,
        "study_file": str(study_file.path),
        "storage": storage_description(study_file.storage, study_file.name, runs_dir),
        "trial": trial.number if trial is not None else None,
        "pick": pick or ("knee" if len(study.directions) > 1 else "best"),
        "directions": {o.name: o.direction for o in study_file.objectives},
        "dataset": task.get("dataset"),
        "network": task.get("network"),
        "seed": task.get("seed"),
        "study_seed": study_file.seed,
        "exported_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "versions": _versions(),
    }
    if trial is not None and "baseline" in trial.user_attrs:
        provenance["baseline"] = trial.user_attrs["baseline"]
    return provenance


def _versions() -> dict:
    versions = {"actsearch": __version__, "python": platform.python_version()}
    for package in ("torch", "torchvision", "optuna", "ray"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def pick_trial(study: optuna.Study, objectives: list[str], pick: str | None) -> FrozenTrial:
    """The trial a pick rule designates (see the module docstring)."""
    candidates = ranked_candidates(study)
    if not candidates:
        states = {}
        for trial in study.get_trials(deepcopy=False):
            states[trial.state.name] = states.get(trial.state.name, 0) + 1
        counts = ", ".join(f"{count} {state}" for state, count in sorted(states.items())) or "no trials"
        raise ConfigError(f"study {study.study_name!r} has no complete trial to export ({counts})")
    rule = (pick or ("knee" if len(objectives) > 1 else "0")).strip()
    allowed = f"allowed: 'knee', 'best:<objective>' with objective in {objectives}, an index, 'trial:<number>'"
    if rule == "knee":
        return candidates[knee_index([trial.values for trial in candidates], study.directions)]
    if rule.startswith("best:"):
        name = rule.split(":", 1)[1]
        if name not in objectives:
            raise ConfigError(f"pick {rule!r}: unknown objective {name!r}; {allowed}")
        index = objectives.index(name)
        maximize = study.directions[index] == optuna.study.StudyDirection.MAXIMIZE
        return min(candidates, key=lambda t: ((-1.0 if maximize else 1.0) * t.values[index], t.number))
    if rule.startswith("trial:"):
        number = _integer(rule.split(":", 1)[1], rule, allowed)
        for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            if trial.number == number:
                return trial
        raise ConfigError(f"pick {rule!r}: trial {number} is not a complete trial of study {study.study_name!r}")
    index = _integer(rule, rule, allowed)
    if not -len(candidates) <= index < len(candidates):
        raise ConfigError(
            f"pick {rule!r}: index out of range; there are {len(candidates)} candidates (0..{len(candidates) - 1})"
        )
    return candidates[index]


def _integer(text: str, rule: str, allowed: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"pick {rule!r} is not a valid rule; {allowed}") from None
