"""Live progress of a run: a tqdm bar with finished/total, best value so far, running trials, ETA.

The bar is drawn only on a terminal (stderr is a TTY) and when progress is wanted; otherwise every
method is a cheap no-op.

Example:
    >>> bar = TrialProgress("demo", total=10, finished=3, enabled=False)
    >>> bar.trial_finished(best="0.912", running=2)
    >>> bar.close()
"""

from __future__ import annotations

import contextlib
import sys

import optuna
from tqdm.auto import tqdm

__all__ = ["TrialProgress", "optuna_verbosity"]


class TrialProgress:
    """Progress bar over finished (complete or pruned) trials of one study."""

    def __init__(
        self, study_name: str, *, total: int, finished: int, enabled: bool = True, unit: str = "trial"
    ) -> None:
        self._bar = tqdm(
            total=total,
            initial=finished,
            desc=study_name,
            unit=unit,
            dynamic_ncols=True,
            file=sys.stderr,
            disable=not (enabled and sys.stderr.isatty()),
        )
        self._best = "-"
        self._failed = 0

    def trial_finished(self, *, best: str | None = None, running: int, counted: bool = True) -> None:
        """A trial ended: ``counted`` False for a failed one (it does not advance the bar)."""
        if best is not None:
            self._best = best
        if counted:
            self._bar.update(1)
        else:
            self._failed += 1
        self.running(running)

    def running(self, running: int) -> None:
        """Refresh the running count (and the ETA) without a finished trial."""
        postfix = f"best={self._best} running={running}"
        if self._failed:
            postfix += f" failed={self._failed}"
        self._bar.set_postfix_str(postfix, refresh=True)

    def close(self) -> None:
        self._bar.close()


@contextlib.contextmanager
def optuna_verbosity(verbose: bool):
    """Silence Optuna's per-trial INFO lines during a run (the bar and trial logs replace them)."""
    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.INFO if verbose else optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(previous)
