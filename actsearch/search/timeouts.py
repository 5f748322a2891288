"""Per-trial time limit (``budget.trial_timeout``): a trial running longer fails with reason "timeout".

One slow configuration must not hold a worker, and the whole study, for as long as it likes. The limit is
a duration from the study file, or ``auto``: :data:`AUTO_FACTOR` times the slowest completed baseline (the
study file's ``baselines``; without them, the family-coverage trials), and never under
:data:`AUTO_MINIMUM_S`. Until such a trial has completed, ``auto`` sets no limit. The driver kills the
worker of an overdue trial and starts a fresh one.

Example:
    >>> import optuna
    >>> limit = TrialTimeLimit("auto")
    >>> limit.update(optuna.create_study())  # nothing completed yet: no limit
    >>> limit.seconds is None, limit.overdue(started=0.0, now=1e9)
    (True, False)
    >>> TrialTimeLimit(30.0).overdue(started=0.0, now=31.0)
    True
"""

from __future__ import annotations

import optuna
from optuna.trial import TrialState

from actsearch.study.coverage import COVER_ATTR

__all__ = ["AUTO_FACTOR", "AUTO_MINIMUM_S", "TrialTimeLimit", "reference_seconds"]

AUTO_FACTOR = 5.0
# A floor for tiny proxies: a worker's first trial also loads the dataset, a replaced worker loads it again.
AUTO_MINIMUM_S = 60.0


class TrialTimeLimit:
    """``setting`` is seconds, ``"auto"`` or None (no limit); :meth:`update` recomputes ``auto`` from a study."""

    def __init__(self, setting: float | str | None) -> None:
        self.setting = setting
        self.seconds: float | None = None if setting in (None, "auto") else float(setting)
        self._reference: float | None = None

    def update(self, study: optuna.Study) -> None:
        """Recompute an ``auto`` limit from the study's completed reference trials."""
        if self.setting != "auto":
            return
        self._reference = reference_seconds(study)
        if self._reference is not None:
            self.seconds = max(AUTO_FACTOR * self._reference, AUTO_MINIMUM_S)

    def overdue(self, *, started: float, now: float) -> bool:
        """Whether a trial dispatched at ``started`` (``time.monotonic()``) is past the limit at ``now``."""
        return self.seconds is not None and now - started > self.seconds

    def describe(self) -> str:
        """The limit as the failure reason states it."""
        if self.setting == "auto":
            return (f"budget.trial_timeout auto: {AUTO_FACTOR:g} x the slowest baseline's {self._reference:.3g} s, "
                    f"at least {AUTO_MINIMUM_S:g} s")
        return f"budget.trial_timeout {self.seconds:g} s"


def reference_seconds(study: optuna.Study) -> float | None:
    """Wall time of the slowest completed baseline (else coverage trial); None when none has completed."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    for key in ("baseline", COVER_ATTR):
        times = [(t.datetime_complete - t.datetime_start).total_seconds() for t in complete
                 if key in t.user_attrs and t.datetime_start and t.datetime_complete]
        if times:
            return max(times)
    return None
