"""What the driver does with each finished trial besides telling the study: weights, curves, callbacks.

- the trained weights of complete trials as Optuna artifacts (``tracking.weights``: all, none, or the best k by
  the first objective; see :mod:`actsearch.study.artifacts`);
- each trial's training curves as TensorBoard scalars under ``runs/<name>/tb/trial-<number>/`` (``tracking.
  tensorboard``, when the ``tensorboard`` package is installed: ``pip install actsearch[tensorboard]``);
- the ``callbacks`` given to :func:`~actsearch.search.run_study`, each called as ``callback(study,
  frozen_trial)`` for every finished trial (complete, pruned or failed), as ``study.optimize`` calls them, so
  optuna-integration's ``MLflowCallback`` or ``WeightsAndBiasesCallback`` plug in unchanged. A callback that
  raises is logged and the search goes on.

Example (a callback written for ``study.optimize`` is one for ``run_study(..., callbacks=[remember])``):
    >>> import optuna
    >>> seen = []
    >>> def remember(study, trial):
    ...     seen.append((trial.number, trial.state.name))
    >>> optuna.logging.set_verbosity(optuna.logging.WARNING)
    >>> optuna.create_study().optimize(lambda trial: 0.5, n_trials=1, callbacks=[remember])
    >>> seen
    [(0, 'COMPLETE')]
"""

from __future__ import annotations

import importlib.util
import logging
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from actsearch.study import StudyFile, TrialOutcome
from actsearch.study.artifacts import WEIGHTS_ATTR, remove_weights, upload_weights

__all__ = ["TrialCallback", "TrialTracking"]

logger = logging.getLogger(__name__)

TrialCallback = Callable[[optuna.Study, FrozenTrial], None]


class TrialTracking:
    """Weights, curves and callbacks for one run; the driver calls :meth:`before_tell` and :meth:`after_tell`."""

    def __init__(self, study: optuna.Study, study_file: StudyFile, run_dir: Path,
                 callbacks: Sequence[TrialCallback] = ()) -> None:
        self.study = study
        self.run_dir = Path(run_dir)
        self.keep = study_file.tracking.weights
        self.wants_weights = self.keep != "none"
        self.maximize = study_file.directions[0] == "maximize"
        self.callbacks = list(callbacks)
        self.removed: set[str] = set()
        self.tensorboard = study_file.tracking.tensorboard and importlib.util.find_spec("tensorboard") is not None
        if study_file.tracking.tensorboard and not self.tensorboard:
            logger.info("no TensorBoard curves: the tensorboard package is not installed (pip install tensorboard)")

    def before_tell(self, trial: optuna.Trial, values: list[float], outcome: TrialOutcome) -> None:
        """A complete trial, not told yet: store its weights if it is to keep them."""
        weights, outcome.weights = outcome.weights, None
        if weights is not None and self._keeps(values[0]):
            upload_weights(trial, weights, self.run_dir)

    def after_tell(self, frozen: FrozenTrial, outcome: TrialOutcome | None) -> None:
        """Any finished trial, told: drop weights that left the best k, write its curves, call the callbacks."""
        if outcome is not None:
            outcome.weights = None
        if isinstance(self.keep, int) and frozen.state == TrialState.COMPLETE and WEIGHTS_ATTR in frozen.user_attrs:
            self._drop_beyond_best()
        if self.tensorboard and outcome is not None and outcome.result:
            self._write_curves(frozen, outcome.result.get("history") or [])
        for callback in self.callbacks:
            try:
                callback(self.study, frozen)
            except Exception as error:
                logger.warning("callback %r failed on trial %d: %s: %s; the search goes on",
                               getattr(callback, "__name__", type(callback).__name__), frozen.number,
                               type(error).__name__, error)

    def _ranked_kept(self) -> list[FrozenTrial]:
        kept = [trial for trial in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                if trial.user_attrs.get(WEIGHTS_ATTR) not in (None, *self.removed)]
        return sorted(kept, key=lambda trial: -trial.values[0] if self.maximize else trial.values[0])

    def _keeps(self, value: float) -> bool:
        if self.keep == "all":
            return True
        better = [t for t in self._ranked_kept() if (t.values[0] > value if self.maximize else t.values[0] < value)]
        return len(better) < self.keep

    def _drop_beyond_best(self) -> None:
        for trial in self._ranked_kept()[self.keep:]:
            artifact_id = trial.user_attrs[WEIGHTS_ATTR]
            remove_weights(artifact_id, self.run_dir)
            self.removed.add(artifact_id)

    def _write_curves(self, frozen: FrozenTrial, history: list[dict]) -> None:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(log_dir=str(self.run_dir / "tb" / f"trial-{frozen.number:05d}"))
        try:
            for step, epoch in enumerate(history, start=1):
                for key, value in epoch.items():
                    if key != "epoch" and isinstance(value, (int, float)) and math.isfinite(value):
                        writer.add_scalar(key, value, epoch.get("epoch", step))
            if frozen.state == TrialState.COMPLETE:
                for name, value in zip(self.study.metric_names or ["value"], frozen.values):
                    writer.add_scalar(f"objective/{name}", value, len(history))
        finally:
            writer.close()
