"""The confirm stage without Ray: which configurations to re-train, on which seeds, and how runs are recorded.

The finalists (the best distinct configurations of the search) and the baselines are fixed in a
:class:`ConfirmPlan` when the stage starts, stored in the user attributes of a second Optuna study,
``<name>.confirm``, in the search's storage. Each (configuration, seed) run is one trial of that study, its
user attributes carrying the configuration id, the seed and every metric, its values the objectives on the
confirm split. A run is *done* once it completed, failed for a reason of its own (divergence, an error), or
used up its retries; everything else (never started, interrupted, a dead worker) is *pending*.

Example:
    >>> config = {"plan": {"default": {"family": "layeract", "params": {"alpha": 1e-5}}, "rules": []},
    ...           "train": {"lr": 0.11}}
    >>> config_label(config)
    'layeract(alpha=1e-05, lr=0.11)'
    >>> confirm_result_key("val_accuracy", "test")
    'test_accuracy'
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import optuna
from optuna.storages import BaseStorage
from optuna.trial import FrozenTrial, TrialState

from actsearch.errors import ConfigError
from actsearch.study.objectives import OBJECTIVES
from actsearch.study.outcome import RETRIED_FAILURES
from actsearch.study.ranking import knee_index, ranked_candidates
from actsearch.study.resume import baseline_name, load_study
from actsearch.study.storage import open_storage
from actsearch.study.studyfile import StudyFile

__all__ = [
    "CONFIRM_SUFFIX",
    "FINAL_FAILURES",
    "RETRIED_FAILURES",
    "Candidate",
    "ConfirmPlan",
    "build_plan",
    "config_label",
    "confirm_result_key",
    "confirm_values",
    "fix_plan",
    "load_confirm",
    "open_confirm_study",
    "pending_runs",
    "recorded_plan",
    "runs_by_job",
    "search_study",
]

logger = logging.getLogger(__name__)

CONFIRM_SUFFIX = ".confirm"
# Failures of the configuration itself: recorded as a failed run, never re-run.
FINAL_FAILURES = ("diverged", "error")
_PLAN_ATTR = "confirm_plan"


@dataclass(frozen=True)
class Candidate:
    """One configuration to confirm: ``key`` identifies it in the confirm study's trials."""

    key: str
    label: str
    kind: str  # "finalist" or "baseline"
    config: dict
    proxy_values: list[float] | None = None  # the search trial's objective values
    trial: int | None = None  # the search trial it comes from

    @property
    def proxy_score(self) -> float | None:
        return self.proxy_values[0] if self.proxy_values else None


@dataclass(frozen=True)
class ConfirmPlan:
    """What the confirm stage runs: every candidate on every seed, on ``task`` (its seed replaced per run)."""

    candidates: list[Candidate]
    seeds: list[int]
    task: dict
    evaluate: str
    objectives: list[dict] = field(default_factory=list)  # [{"name", "direction"}]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, content: dict) -> ConfirmPlan:
        return cls(**{**content, "candidates": [Candidate(**entry) for entry in content["candidates"]]})

    def candidate(self, key: str) -> Candidate:
        return next(candidate for candidate in self.candidates if candidate.key == key)

    def run_task(self, seed: int) -> dict:
        """The task of one run: seed ``seed`` fixes the split, the order and the initialisation for every
        configuration alike, so runs of the same seed are paired."""
        return {**self.task, "seed": seed}

    def jobs(self) -> list[tuple[str, int]]:
        """Every (candidate key, seed), seed-major: a worker keeps one seed's data loaded for longer."""
        return [(candidate.key, seed) for seed in self.seeds for candidate in self.candidates]


def config_label(config: dict) -> str:
    """A short reading of a configuration: ``family(params..., train params...)`` for one activation."""
    plan = config.get("plan") or {}
    train = ", ".join(f"{key}={_short(value)}" for key, value in sorted((config.get("train") or {}).items()))
    default, rules = plan.get("default"), plan.get("rules") or []
    if default and not rules:
        params = ", ".join(f"{key}={_short(value)}" for key, value in sorted((default.get("params") or {}).items()))
        inside = ", ".join(part for part in (params, train) if part)
        return f"{default.get('family')}({inside})" if inside else str(default.get("family"))
    parts = [f"all: {config_label({'plan': {'default': default}})}"] if default else []
    parts += [f"{rule.get('pattern')}: {config_label({'plan': {'default': rule.get('spec')}})}" for rule in rules]
    return "; ".join(parts + ([train] if train else []))


def _short(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def confirm_result_key(objective: str, evaluate: str) -> str:
    """The result field holding ``objective`` on the confirm split (validation accuracy becomes test accuracy)."""
    key = OBJECTIVES[objective].result_key
    return "test_accuracy" if evaluate == "test" and key == "val_accuracy" else key


def confirm_values(plan: ConfirmPlan, result: dict) -> list[float] | None:
    """The objective values of one run's result, in the plan's order; None when one is missing."""
    values = []
    for objective in plan.objectives:
        value = result.get(confirm_result_key(objective["name"], plan.evaluate))
        if value is None or not math.isfinite(float(value)):
            return None
        values.append(float(value))
    return values


def _config_key(config: dict) -> str:
    return json.dumps(config, sort_keys=True, default=str)


def build_plan(
    study_file: StudyFile,
    study: optuna.Study | None,
    *,
    top: int | None = None,
    seed_count: int | None = None,
    only_baselines: bool = False,
) -> ConfirmPlan:
    """The plan from the study file's ``confirm`` section and the search's results.

    ``top`` and ``seed_count`` override the section (``--top``, ``--seeds``); ``only_baselines`` confirms the
    baselines alone, with no search needed. ConfigError when there is nothing to confirm.
    """
    section = study_file.confirm
    baselines = _baseline_candidates(study_file, study) if section.baselines or only_baselines else []
    if only_baselines:
        if not baselines:
            raise ConfigError(f"study {study_file.name!r} has no baselines to confirm; add `baselines:` to "
                              f"{study_file.path}, or run the search and confirm its finalists")
        finalists = []
    else:
        finalists = _finalists(study_file, study, section.top if top is None else top, baselines)
    if top is not None and top < 1:
        raise ConfigError(f"--top must be at least 1, got {top}")
    if seed_count is not None and seed_count < 1:
        raise ConfigError(f"--seeds must be at least 1, got {seed_count}")
    task = study_file.task.replace(**section.task).to_dict()
    return ConfirmPlan(
        candidates=finalists + baselines,
        seeds=section.seed_list(study_file.seed, seed_count),
        task=task,
        evaluate=section.evaluate,
        objectives=[{"name": o.name, "direction": o.direction} for o in study_file.objectives],
    )


def _finalists(study_file: StudyFile, study: optuna.Study | None, top: int, baselines: list[Candidate]) -> list:
    ranked = ranked_candidates(study) if study is not None else []
    if not ranked:
        raise ConfigError(f"study {study_file.name!r} has no finished trial to confirm; run the search first "
                          f"(`actsearch run {study_file.path}`), or confirm the baselines alone with "
                          "--only-baselines")
    if len(study_file.objectives) > 1:  # the Pareto set, knee first
        knee = knee_index([trial.values for trial in ranked], study.directions)
        ranked.insert(0, ranked.pop(knee))
    seen = {_config_key(candidate.config) for candidate in baselines}
    finalists = []
    for trial in ranked:
        config = trial.user_attrs.get("config") or study_file.space.decode(trial.params).to_dict()
        if _config_key(config) in seen or len(finalists) >= top:
            continue
        seen.add(_config_key(config))
        finalists.append(Candidate(f"trial-{trial.number}", config_label(config), "finalist", config,
                                   list(trial.values), trial.number))
    return finalists


def _baseline_candidates(study_file: StudyFile, study: optuna.Study | None) -> list[Candidate]:
    trials = {}
    if study is not None:
        for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            trials.setdefault(trial.user_attrs.get("baseline"), trial)
    candidates = []
    for entry in study_file.baselines:
        name = baseline_name(entry)
        config = study_file.space.decode(study_file.space.baseline_params(entry)).to_dict()
        trial = trials.get(name)
        candidates.append(Candidate(f"baseline-{name}", name, "baseline", config,
                                    list(trial.values) if trial else None, trial.number if trial else None))
    return candidates


def open_confirm_study(study_file: StudyFile, storage: BaseStorage) -> optuna.Study:
    """Create or load ``<name>.confirm``: one trial per run, its values the objectives on the confirm split."""
    return optuna.create_study(storage=storage, study_name=study_file.name + CONFIRM_SUFFIX,
                               directions=list(study_file.directions), load_if_exists=True)


def fix_plan(confirm_study: optuna.Study, plan: ConfirmPlan) -> ConfirmPlan:
    """The plan recorded when the stage started (``plan`` the first time): a resume confirms the same
    configurations. Seeds asked beyond the recorded ones are added (confirming on more seeds)."""
    recorded = confirm_study.user_attrs.get(_PLAN_ATTR)
    if recorded is not None:
        stored = ConfirmPlan.from_dict(recorded)
        if [c.key for c in stored.candidates] != [c.key for c in plan.candidates]:
            logger.warning("the configurations to confirm were fixed when the stage started (%s); keeping them",
                           ", ".join(c.label for c in stored.candidates))
        added = [seed for seed in plan.seeds if seed not in stored.seeds]
        plan = ConfirmPlan(stored.candidates, stored.seeds + added, stored.task, stored.evaluate, stored.objectives)
        if not added:
            return plan
    confirm_study.set_user_attr(_PLAN_ATTR, plan.to_dict())
    return plan


def recorded_plan(confirm_study: optuna.Study) -> ConfirmPlan | None:
    """The plan fixed when the stage started, or None before."""
    recorded = confirm_study.user_attrs.get(_PLAN_ATTR)
    return ConfirmPlan.from_dict(recorded) if recorded is not None else None


def runs_by_job(confirm_study: optuna.Study) -> dict[tuple[str, int], list[FrozenTrial]]:
    """The confirm study's trials grouped by (candidate key, seed), in trial order."""
    runs: dict[tuple[str, int], list[FrozenTrial]] = {}
    for trial in confirm_study.get_trials(deepcopy=False):
        if "config_id" in trial.user_attrs:
            runs.setdefault((trial.user_attrs["config_id"], trial.user_attrs["seed"]), []).append(trial)
    return runs


def pending_runs(plan: ConfirmPlan, confirm_study: optuna.Study, max_retries: int) -> list[tuple[str, int, int]]:
    """(candidate key, seed, attempt) of every run still to do, seed-major."""
    runs = runs_by_job(confirm_study)
    pending = []
    for key, seed in plan.jobs():
        trials = runs.get((key, seed), [])
        if any(_final(trial) for trial in trials):
            continue
        retried = sum(trial.user_attrs.get("fail_kind") in RETRIED_FAILURES for trial in trials)
        if retried <= max_retries:
            pending.append((key, seed, len(trials) + 1))
    return pending


def _final(trial: FrozenTrial) -> bool:
    """A run that stays as it is: completed, or failed for a reason of its own configuration."""
    if trial.state == TrialState.COMPLETE:
        return True
    return trial.state == TrialState.FAIL and trial.user_attrs.get("fail_kind") in FINAL_FAILURES


def load_confirm(study_file: StudyFile, *, runs_dir: str | Path = ".") -> tuple[ConfirmPlan, optuna.Study] | None:
    """The recorded plan and the confirm study, for reading; None when no confirm stage has started."""
    try:
        storage, _ = open_storage(study_file.storage, study_file.name, runs_dir=runs_dir, create=False)
        confirm_study = optuna.load_study(study_name=study_file.name + CONFIRM_SUFFIX, storage=storage)
    except (KeyError, ConfigError):
        return None
    plan = recorded_plan(confirm_study)
    return (plan, confirm_study) if plan is not None else None


def search_study(study_file: StudyFile, runs_dir: str | Path) -> optuna.Study | None:
    """The search's study, or None when it was never run (a confirm of the baselines alone needs none)."""
    try:
        return load_study(study_file, runs_dir=runs_dir)
    except ConfigError:
        return None
