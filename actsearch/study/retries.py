"""Retries of failed trials that survive a kill at any step: failing a trial and queuing its retry are two writes.

A trial that deserves another attempt (its worker died, ran out of memory, or its driver was interrupted)
is told FAIL with ``user_attrs["retry_wanted"]``; its retry is an enqueued copy of its parameters whose
``user_attrs["retry_of"]`` names it. Whatever step a kill interrupts, the next start finds the FAIL
records that want a retry and have no successor, and queues theirs (:func:`enqueue_missing_retries`);
a retry already queued is never queued twice.

Example:
    >>> import optuna
    >>> study = optuna.create_study()
    >>> trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    >>> failed, queued = fail_trial(study, trial, "worker died", retry=True)
    >>> queued, enqueue_missing_retries(study)  # the retry exists already
    (True, [])
    >>> study.trials[1].user_attrs
    {'attempt': 2, 'retry_of': 0}
"""

from __future__ import annotations

import optuna
from optuna.trial import FrozenTrial, TrialState

__all__ = ["RETRY_WANTED", "enqueue_missing_retries", "enqueue_retry", "fail_trial", "retry_attributes"]

RETRY_WANTED = "retry_wanted"


def retry_attributes(trial: FrozenTrial) -> dict:
    """User attributes of the re-enqueued copy of a failed trial."""
    attributes = {"attempt": trial.user_attrs.get("attempt", 1) + 1, "retry_of": trial.number}
    if "baseline" in trial.user_attrs:
        attributes["baseline"] = trial.user_attrs["baseline"]
    return attributes


def enqueue_retry(study: optuna.Study, trial: FrozenTrial) -> bool:
    """Enqueue a failed trial's parameters again, unless a retry of it exists; False when nothing was queued
    (no parameters, or a retry already there)."""
    if not trial.params or trial.number in _retried_numbers(study):
        return False
    study.enqueue_trial(trial.params, user_attrs=retry_attributes(trial))
    return True


def fail_trial(
    study: optuna.Study, trial: optuna.Trial | FrozenTrial, reason: str, *, retry: bool
) -> tuple[FrozenTrial, bool]:
    """Tell ``trial`` FAIL with ``reason``, then, when ``retry``, enqueue its retry; returns the failed trial and
    whether a retry was queued. A kill between the two writes is repaired by :func:`enqueue_missing_retries`."""
    # Optuna has no public way to set an attribute of a trial asked by another process but its storage id.
    study._storage.set_trial_user_attr(trial._trial_id, "fail_reason", reason)
    if retry:
        study._storage.set_trial_user_attr(trial._trial_id, RETRY_WANTED, True)
    frozen = study.tell(trial.number, state=TrialState.FAIL)
    return frozen, retry and enqueue_retry(study, frozen)


def enqueue_missing_retries(study: optuna.Study) -> list[int]:
    """Queue the retry of every failed trial that wants one and has none; returns their numbers."""
    retried = _retried_numbers(study)
    missing = [
        trial
        for trial in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
        if trial.user_attrs.get(RETRY_WANTED) and trial.params and trial.number not in retried
    ]
    for trial in missing:
        study.enqueue_trial(trial.params, user_attrs=retry_attributes(trial))
    return [trial.number for trial in missing]


def _retried_numbers(study: optuna.Study) -> set[int]:
    return {t.user_attrs["retry_of"] for t in study.get_trials(deepcopy=False) if "retry_of" in t.user_attrs}
