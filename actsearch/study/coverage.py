"""Family coverage: every family of the space runs at least once before the sampler takes over.

With seven families and fourteen trials, TPE may never sample some family at all. With
``budget.cover_families: true`` (the default) each family that no baseline already runs is enqueued once in
the study's life, after the baselines, at the centre of its ranges (see
:meth:`~actsearch.spaces.SearchSpace.centre_params`); ``study.user_attrs["families_covered"]`` records that it
was done. :func:`uncovered_families` lists the families without a completed trial (``actsearch status``).

Example:
    >>> import optuna
    >>> from actsearch.spaces import SearchSpace
    >>> space = SearchSpace.from_dict({"families": {"relu": {}, "elu": {"alpha": {"low": 0.5, "high": 1.5}}}})
    >>> study = optuna.create_study()
    >>> enqueue_family_coverage(study, space, covered_by_baselines=["relu"])
    ['elu']
    >>> uncovered_families(study, space)
    ['relu', 'elu']
"""

from __future__ import annotations

from collections.abc import Iterable

import optuna
from optuna.trial import TrialState

from actsearch.spaces import SearchSpace

__all__ = ["COVER_ATTR", "enqueue_family_coverage", "uncovered_families"]

COVER_ATTR = "cover_family"  # user attribute naming the family an enqueued coverage trial runs
_DONE_FLAG = "families_covered"


def enqueue_family_coverage(
    study: optuna.Study, space: SearchSpace, *, covered_by_baselines: Iterable[str] = ()
) -> list[str]:
    """Enqueue one centred trial per family not yet tried, once in the study's life; returns those enqueued now.

    A family counts as tried when a baseline runs it, or when some trial of the study (from before this
    option, or a coverage trial enqueued by a driver killed before it set the flag) already used it.
    """
    if study.user_attrs.get(_DONE_FLAG):
        return []
    tried = set(covered_by_baselines)
    for trial in study.get_trials(deepcopy=False):
        tried.update(space.family_of(trial.params))
        if COVER_ATTR in trial.user_attrs:
            tried.add(trial.user_attrs[COVER_ATTR])
    enqueued = []
    for family in space.families.names:
        if family not in tried:
            study.enqueue_trial(space.centre_params(family), user_attrs={COVER_ATTR: family, "attempt": 1})
            enqueued.append(family)
    study.set_user_attr(_DONE_FLAG, True)
    return enqueued


def uncovered_families(study: optuna.Study, space: SearchSpace) -> list[str]:
    """Families of the space (as written in the study file) without a completed trial, in the space's order."""
    completed = set()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        completed.update(space.family_of(trial.params))
    return [family for family in space.families.names if family not in completed]
