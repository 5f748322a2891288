"""``actsearch status``: a study at a glance, as text.

Counts by state, the families of the space no trial completed, the best trials with their decoded
configurations, the running trials (epoch and latest metrics), the failures with their reasons, and the
confirm table once a confirm stage started. Reads the study and the trial logs only; safe while a driver runs.

Example:
    >>> from actsearch.study import load_study_file
    >>> print(study_status(load_study_file("studies/quickstart.yaml")))  # doctest: +SKIP
    study quickstart (runs/quickstart/journal.log)
    objectives: val_accuracy (maximize)
    finished: 12/12; complete 9, pruned 3, fail 0, running 0, waiting 0
    ...
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from optuna.trial import FrozenTrial, TrialState

from actsearch.errors import ConfigError
from actsearch.report.data import describe_config
from actsearch.study import (
    FINISHED_STATES,
    StudyFile,
    confirm_summary_of,
    format_confirm,
    load_study,
    ranked_candidates,
    read_trial_log,
    run_directory,
    storage_description,
    uncovered_families,
)

__all__ = ["study_status"]

_STATE_ORDER = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING, TrialState.WAITING)


def study_status(study_file: StudyFile, *, runs_dir: str | Path = ".", top: int = 5) -> str:
    """A multi-line report of the study's state; ConfigError when the study does not exist yet."""
    confirm = confirm_summary_of(study_file, runs_dir=runs_dir)
    try:
        study = load_study(study_file, runs_dir=runs_dir)
    except ConfigError:
        if confirm is None:
            raise
        # `actsearch confirm --only-baselines` ran without a search
        return f"study {study_file.name}: no search yet\n{format_confirm(confirm)}"
    trials = study.get_trials(deepcopy=False)
    objectives = [objective.name for objective in study_file.objectives]
    states = Counter(trial.state.name for trial in trials)
    finished = sum(states[state.name] for state in FINISHED_STATES)
    lines = [
        f"study {study.study_name} ({storage_description(study_file.storage, study_file.name, runs_dir)})",
        "objectives: " + ", ".join(f"{o.name} ({o.direction})" for o in study_file.objectives),
        f"finished: {finished}/{study_file.budget.trials}; "
        + ", ".join(f"{state.name.lower()} {states[state.name]}" for state in _STATE_ORDER),
    ]
    never = uncovered_families(study, study_file.space)
    if never:
        lines.append("families never completed: " + ", ".join(never))
    candidates = ranked_candidates(study)
    if candidates:
        title = "best trials" if len(objectives) == 1 else f"Pareto set ({len(candidates)} trials)"
        lines.append(f"{title} (index: trial, values, configuration):")
        lines += [f"  {index}: {_trial_line(trial, objectives)}" for index, trial in enumerate(candidates[:top])]
        if len(candidates) > top:
            lines.append(f"  ... {len(candidates) - top} more")
    running = [trial for trial in trials if trial.state == TrialState.RUNNING]
    if running:
        lines.append("running (re-run on resume if no driver is running):")
        run_dir = run_directory(study_file.name, runs_dir)
        lines += [
            f"  #{trial.number}: {describe_config(trial)}{_attempt_text(trial)}"
            + _epoch_text(read_trial_log(run_dir, trial.number), study_file.task.epochs)
            for trial in running
        ]
    failed = [trial for trial in trials if trial.state == TrialState.FAIL]
    if failed:
        lines.append("failures:")
        lines += [
            f"  #{trial.number}: {trial.user_attrs.get('fail_reason', 'unknown')}{_attempt_text(trial)}"
            for trial in failed
        ]
    if confirm is not None:
        lines.append(format_confirm(confirm))
    return "\n".join(lines)


def _trial_line(trial: FrozenTrial, objectives: list[str]) -> str:
    values = ", ".join(f"{name}={value:.4g}" for name, value in zip(objectives, trial.values))
    baseline = f" [baseline {trial.user_attrs['baseline']}]" if "baseline" in trial.user_attrs else ""
    return f"#{trial.number} {values}{baseline}: {describe_config(trial)}"


def _epoch_text(log: dict | None, epochs: int) -> str:
    """``; epoch 3/10: val_accuracy 0.81, train_loss 0.52`` from a running trial's log (empty before an epoch)."""
    if not log or log.get("state") != "RUNNING" or not log.get("latest"):
        return ""
    latest = log["latest"]
    shown = [f"{key} {latest[key]:.4g}" for key in ("val_accuracy", "train_loss") if isinstance(latest.get(key), float)]
    return f"; epoch {latest.get('epoch', log.get('epochs_completed'))}/{epochs}: " + ", ".join(shown)


def _attempt_text(trial: FrozenTrial) -> str:
    if "retry_of" not in trial.user_attrs:
        return ""
    return f" (attempt {trial.user_attrs.get('attempt')}, retry of #{trial.user_attrs['retry_of']})"
