"""The numbers behind a report, read from a study's storage alone.

:func:`collect_report_data` gathers everything the figures, the HTML and ``summary.json`` need, once:
objective names and directions, completed trials ranked best first, the Pareto set, the activation
families of each trial, learning curves and the corruption breakdown of the top configurations.

Family grouping: a trial counts once for *each* activation its placement plan uses, so a per-stage plan
with ``relu`` in the stem and ``la_silu`` elsewhere appears under both. Activations are labelled as a user
knows them (``la_hardsilu``, ``anact(silu)``; :func:`actsearch.spaces.config_labels`) from the decoded
configuration the driver stores, else from ``trial.user_attrs["families"]``, else from the ``*.family``
params; a trial with none of these (failed before it was decoded) belongs to no family.

Example:
    >>> import optuna
    >>> study = optuna.create_study(direction="maximize")
    >>> study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    >>> data = collect_report_data(study, top=2)
    >>> len(data.top), data.objectives
    (2, ('objective 0',))
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from actsearch.errors import ConfigError
from actsearch.spaces import config_labels

__all__ = [
    "LearningCurve",
    "ReportData",
    "collect_report_data",
    "describe_config",
    "importance_evaluator",
    "trial_families",
]

UNKNOWN_FAMILY = "unknown"  # a spec without a family, in describe_config
_STATE_KEYS = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed"}
# fANOVA with fewer trees than Optuna's default (64): importances for a report, not a paper.
IMPORTANCE_TREES = 16


@dataclass(frozen=True)
class LearningCurve:
    """Validation metric per epoch of one trial: ``source`` is "intermediate" or "history"."""

    number: int
    state: str
    steps: tuple[int, ...]
    values: tuple[float, ...]
    source: str
    label: str = ""  # the trial's activations, e.g. "la_silu" or "anact(silu), relu"


@dataclass(frozen=True)
class ReportData:
    """Everything a report shows, computed once from the study."""

    study_name: str
    metadata: dict[str, Any]
    objectives: tuple[str, ...]
    directions: tuple[str, ...]
    trials: tuple[FrozenTrial, ...]
    complete: tuple[FrozenTrial, ...]
    top: tuple[FrozenTrial, ...]
    pareto: tuple[FrozenTrial, ...]
    families: dict[int, tuple[str, ...]]
    curves: tuple[LearningCurve, ...]
    importances: dict[str, dict[str, float]] | None
    notes: dict[str, str]
    confirm: dict[str, Any] | None = None  # the confirm stage's summary (confirm.json), when there is one

    @property
    def multi_objective(self) -> bool:
        return len(self.objectives) > 1

    def family_order(self) -> list[str]:
        """Families of completed trials, best mean of the first objective first, then those only pruned or failed."""
        groups = self.family_trials()
        sign = -1.0 if self.directions[0] == "maximize" else 1.0
        ranked = sorted(groups, key=lambda f: (sign * float(np.mean([t.values[0] for t in groups[f]])), f))
        return ranked + sorted(set(self.family_counts()) - set(groups))

    def family_counts(self) -> dict[str, dict[str, int]]:
        """Per family, its finished trials by outcome: ``{"complete": n, "pruned": n, "failed": n}``."""
        counts: dict[str, dict[str, int]] = {}
        for trial in self.trials:
            if trial.state.name in _STATE_KEYS:
                for family in self.families[trial.number]:
                    row = counts.setdefault(family, dict.fromkeys(_STATE_KEYS.values(), 0))
                    row[_STATE_KEYS[trial.state.name]] += 1
        return counts

    def family_title(self, family: str) -> str:
        """``la_silu (5 complete, 2 pruned, 1 failed)``: a family with its counts, for figure labels."""
        counts = self.family_counts().get(family, {})
        shown = ", ".join(f"{counts[key]} {key}" for key in ("complete", "pruned", "failed") if counts.get(key))
        return f"{family} ({shown})" if shown else family

    def family_trials(self) -> dict[str, list[FrozenTrial]]:
        """Completed trials per family (a trial appears under every family it uses)."""
        groups: dict[str, list[FrozenTrial]] = {}
        for trial in self.complete:
            for family in self.families[trial.number]:
                groups.setdefault(family, []).append(trial)
        return groups

    def corruption(self) -> list[dict[str, Any]]:
        """Corruption breakdown of the top trials that were evaluated on corrupted data."""
        rows = []
        for rank, trial in enumerate(self.top, start=1):
            result = trial.user_attrs.get("result") or {}
            corrupted = result.get("corrupted")
            if not isinstance(corrupted, dict) or not (corrupted.get("per_category") or corrupted.get("per_severity")):
                continue
            per_severity = corrupted.get("per_severity") or {}
            rows.append(
                {
                    "rank": rank,
                    "number": trial.number,
                    "label": ", ".join(self.families[trial.number]),
                    "clean": result.get("val_accuracy"),
                    "mean": corrupted.get("mean"),
                    "per_category": dict(corrupted.get("per_category") or {}),
                    "per_severity": {k: per_severity[k] for k in sorted(per_severity, key=_severity_key)},
                }
            )
        return rows

    def summary(self) -> dict[str, Any]:
        """The content of ``summary.json``."""
        states = Counter(t.state.name for t in self.trials)
        fail_reasons = Counter(
            str(t.user_attrs["fail_reason"]).split(":", 1)[0]
            for t in self.trials
            if t.state == TrialState.FAIL and "fail_reason" in t.user_attrs
        )
        best = self.pareto if self.multi_objective else self.top[:1]
        summary = {
            "study": {
                "name": self.study_name,
                "objectives": [{"name": n, "direction": d} for n, d in zip(self.objectives, self.directions)],
                "metadata": self.metadata,
            },
            "trials": {
                "total": len(self.trials),
                "by_state": {state.name: states.get(state.name, 0) for state in TrialState},
                "fail_reasons": dict(sorted(fail_reasons.items())),
            },
            "best_trials": [self.trial_record(t) for t in best],
            "pareto_front": [t.number for t in self.pareto] if self.multi_objective else None,
            "top_trials": [{"rank": r, **self.trial_record(t)} for r, t in enumerate(self.top, start=1)],
            "families": self._family_stats(),
            "param_importances": self.importances,
            "corruption": self.corruption() or None,
            "confirm": self.confirm,
            "notes": self.notes,
        }
        return _jsonable(summary)

    def trial_record(self, trial: FrozenTrial) -> dict[str, Any]:
        record = {
            "number": trial.number,
            "values": dict(zip(self.objectives, trial.values)),
            "families": list(self.families[trial.number]),
            "config": trial.user_attrs.get("config"),
            "params": trial.params,
        }
        if "baseline" in trial.user_attrs:
            record["baseline"] = trial.user_attrs["baseline"]
        return record

    def _family_stats(self) -> dict[str, Any]:
        counts = self.family_counts()
        groups = self.family_trials()
        stats = {}
        for family in self.family_order():
            trials = groups.get(family, [])
            objectives = {}
            for index, name in enumerate(self.objectives):
                values = np.array([t.values[index] for t in trials], dtype=float)
                objectives[name] = (
                    {
                        "mean": float(values.mean()),
                        "median": float(np.median(values)),
                        "min": float(values.min()),
                        "max": float(values.max()),
                    }
                    if len(values)
                    else None
                )
            stats[family] = {
                "count": len(trials),
                "pruned": counts[family]["pruned"],
                "failed": counts[family]["failed"],
                "objectives": objectives,
            }
        return stats


def collect_report_data(study: optuna.Study, *, top: int = 10, confirm: dict[str, Any] | None = None) -> ReportData:
    """Read a study and compute what a report shows; ConfigError if no trial has completed.

    ``confirm`` is the confirm stage's summary (:func:`actsearch.study.confirm_summary_of`), if any.
    """
    if top < 1:
        raise ConfigError(f"top must be a positive number of trials, got {top}")
    trials = tuple(study.get_trials(deepcopy=False))
    complete = tuple(t for t in trials if t.state == TrialState.COMPLETE)
    if not complete:
        states = Counter(t.state.name.lower() for t in trials)
        found = ", ".join(f"{n} {s}" for s, n in sorted(states.items())) or "no trials at all"
        raise ConfigError(
            f"study '{study.study_name}' has no completed trial ({found}); "
            "a report needs at least one completed trial: run the search longer or check the failed trials' "
            "fail_reason with `actsearch status`"
        )
    metadata = dict(study.user_attrs.get("actsearch") or {})
    directions = tuple(d.name.lower() for d in study.directions)
    objectives = _objective_names(study, metadata, len(directions))
    notes: dict[str, str] = {}
    pareto = tuple(sorted(study.best_trials, key=lambda t: t.number)) if len(directions) > 1 else ()
    data = ReportData(
        study_name=study.study_name,
        metadata=metadata,
        objectives=objectives,
        directions=directions,
        trials=trials,
        complete=complete,
        top=tuple(_rank(complete, directions, top)),
        pareto=pareto,
        families={t.number: trial_families(t) for t in trials},
        curves=tuple(_learning_curves(trials)),
        importances=_importances(study, complete, objectives, notes),
        notes=notes,
        confirm=confirm,
    )
    if confirm is None:
        notes["confirm"] = "no confirm stage yet: `actsearch confirm STUDY_FILE` re-trains the finalists on seeds"
    if not data.curves:
        notes["learning_curves"] = "no trial reported per-epoch values"
    if len(directions) == 1:
        notes["pareto"] = "no Pareto front: the study has a single objective"
    elif len(directions) > 3:
        notes["pareto"] = f"no Pareto front figure: {len(directions)} objectives cannot be drawn (2 or 3 can)"
    if not data.corruption():
        notes["corruption"] = (
            "no top trial was evaluated on corrupted images "
            "(set task.corruptions in the study file to measure robustness)"
        )
    return data


def importance_evaluator() -> optuna.importance.BaseImportanceEvaluator:
    return optuna.importance.FanovaImportanceEvaluator(n_trees=IMPORTANCE_TREES, seed=0)


def trial_families(trial: FrozenTrial) -> tuple[str, ...]:
    """Sorted labels of the activations a trial uses (see the module docstring); empty when nothing says."""
    config = trial.user_attrs.get("config")
    if isinstance(config, dict) and isinstance(config.get("plan"), dict):
        return tuple(config_labels(config))
    families = trial.user_attrs.get("families")
    if not families:
        families = [v for k, v in trial.params.items() if k == "family" or k.endswith(".family")]
    return tuple(sorted({str(f) for f in families}))


def describe_config(trial: FrozenTrial) -> str:
    """A one-line human reading of a trial's decoded configuration (params when there is no config)."""
    config = trial.user_attrs.get("config")
    if not isinstance(config, dict):
        return ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(trial.params.items()))
    plan = config.get("plan") or {}
    parts = []
    if plan.get("default"):
        parts.append(f"all: {_describe_spec(plan['default'])}")
    parts += [f"{rule.get('pattern')}: {_describe_spec(rule.get('spec') or {})}" for rule in plan.get("rules") or ()]
    train = config.get("train") or {}
    if train:
        parts.append("train: " + ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(train.items())))
    return "; ".join(parts)


def _describe_spec(spec: dict[str, Any]) -> str:
    params = spec.get("params") or {}
    inside = ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(params.items()))
    return f"{spec.get('family', UNKNOWN_FAMILY)}({inside})" if inside else str(spec.get("family", UNKNOWN_FAMILY))


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _objective_names(study: optuna.Study, metadata: dict[str, Any], count: int) -> tuple[str, ...]:
    declared = [o.get("name") for o in metadata.get("objectives") or () if isinstance(o, dict)]
    if len(declared) == count and all(declared):
        return tuple(str(n) for n in declared)
    if study.metric_names and len(study.metric_names) == count:
        return tuple(study.metric_names)
    return tuple(f"objective {i}" for i in range(count))


def _rank(trials: tuple[FrozenTrial, ...], directions: tuple[str, ...], top: int) -> list[FrozenTrial]:
    """Best first: by value for one objective, by non-dominated front then first objective for several."""
    signs = np.array([-1.0 if d == "maximize" else 1.0 for d in directions])
    points = np.array([t.values for t in trials], dtype=float) * signs  # every objective minimized
    if len(directions) == 1:
        return [trials[i] for i in np.argsort(points[:, 0], kind="stable")[:top]]
    no_worse = (points[:, None, :] <= points[None, :, :]).all(axis=2)
    better = (points[:, None, :] < points[None, :, :]).any(axis=2)
    dominates = no_worse & better  # dominates[i, j]: trial i dominates trial j
    remaining = np.arange(len(trials))
    ranked: list[int] = []
    while len(remaining) and len(ranked) < top:
        dominated = dominates[np.ix_(remaining, remaining)].any(axis=0)
        front = remaining[~dominated]
        ranked += sorted(front.tolist(), key=lambda i: (points[i, 0], trials[i].number))
        remaining = remaining[dominated]
    return [trials[i] for i in ranked[:top]]


def _learning_curves(trials: tuple[FrozenTrial, ...]) -> list[LearningCurve]:
    curves = []
    for trial in trials:
        if trial.state not in (TrialState.COMPLETE, TrialState.PRUNED):
            continue
        if trial.intermediate_values:
            steps = sorted(trial.intermediate_values)
            values = [trial.intermediate_values[s] for s in steps]
            source = "intermediate"
        else:
            history = (trial.user_attrs.get("result") or {}).get("history") or []
            points = [
                (int(entry.get("epoch", i + 1)), float(entry["val_accuracy"]))
                for i, entry in enumerate(history)
                if isinstance(entry, dict) and entry.get("val_accuracy") is not None
            ]
            if not points:
                continue
            steps, values = (list(column) for column in zip(*points))
            source = "history"
        label = ", ".join(trial_families(trial)) or f"trial {trial.number}"
        curves.append(LearningCurve(trial.number, trial.state.name, tuple(steps), tuple(values), source, label))
    return curves


def _importances(
    study: optuna.Study, complete: tuple[FrozenTrial, ...], objectives: tuple[str, ...], notes: dict[str, str]
) -> dict[str, dict[str, float]] | None:
    """Parameter importances per objective; why they are missing goes to ``notes["param_importances"]``."""
    problems = []
    names = set().union(*(t.params for t in complete))
    if len(complete) < 2:
        problems.append(f"parameter importances need at least 2 completed trials, the study has {len(complete)}")
    elif not any(len({repr(t.params.get(name)) for t in complete}) > 1 for name in names):
        problems.append("parameter importances need parameters that vary across completed trials; none do")
    importances = {}
    for index, name in enumerate(objectives if not problems else ()):
        if len({t.values[index] for t in complete}) == 1:
            problems.append(f"{name}: every completed trial has the same value, so no parameter explains it")
            continue
        try:
            found = optuna.importance.get_param_importances(
                study, evaluator=importance_evaluator(), target=lambda t, i=index: t.values[i]
            )
        except (ValueError, RuntimeError) as error:
            problems.append(f"{name}: parameter importances could not be computed ({error})")
            continue
        if not found:
            problems.append(f"{name}: no parameter is shared by every completed trial, so none can be ranked")
            continue
        importances[name] = {param: float(value) for param, value in found.items()}
    if problems:
        notes["param_importances"] = "; ".join(problems)
    return importances or None


def _severity_key(severity: str) -> tuple[float, str]:
    try:
        return float(severity), severity
    except ValueError:
        return math.inf, severity


def _jsonable(value: Any) -> Any:
    """Plain JSON: non-finite floats become null (strict JSON has no NaN or Infinity)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)
