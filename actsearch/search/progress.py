"""Live progress of a run: a bar on a terminal, plain lines elsewhere.

On a terminal (stderr is a TTY) a tqdm bar shows finished/total, the best value so far, the running trials
and the ETA. Under ``nohup``, a scheduler or a pipe, one line per finished trial goes to stderr instead
(and, with ``verbose``, one per epoch of each running trial), so a log file shows what the run is doing.
With ``enabled`` False nothing is printed.

Example:
    >>> import io
    >>> stream = io.StringIO()
    >>> bar = TrialProgress("demo", total=10, finished=3, stream=stream)
    >>> bar.trial_finished(best="0.912", running=2, line="trial 3 complete: 0.912 (relu)")
    >>> bar.close()
    >>> stream.getvalue()
    'demo: trial 3 complete: 0.912 (relu); 4/10 finished, best 0.912\\n'
"""

from __future__ import annotations

import contextlib
import sys
from typing import TextIO

import optuna
from optuna.trial import FrozenTrial, TrialState
from tqdm.auto import tqdm

from actsearch.spaces import config_labels
from actsearch.study import TrialOutcome

__all__ = ["TrialProgress", "epoch_line", "optuna_verbosity", "trial_line"]


class TrialProgress:
    """Progress over finished (complete or pruned) trials of one study."""

    def __init__(
        self,
        study_name: str,
        *,
        total: int,
        finished: int,
        enabled: bool = True,
        verbose: bool = False,
        stream: TextIO | None = None,
        unit: str = "trial",
    ) -> None:
        self._stream = sys.stderr if stream is None else stream
        on_terminal = self._stream.isatty()
        self._bar = tqdm(
            total=total,
            initial=finished,
            desc=study_name,
            unit=unit,
            dynamic_ncols=True,
            file=self._stream,
            disable=not (enabled and on_terminal),
        )
        self._lines = enabled and not on_terminal
        self._verbose = verbose
        self._name = study_name
        self._total = total
        self._finished = finished
        self._best = "-"
        self._failed = 0

    def trial_finished(
        self, *, best: str | None = None, running: int, counted: bool = True, line: str | None = None
    ) -> None:
        """A trial ended: ``counted`` False for a failed one (it does not advance the bar); ``line`` describes it."""
        if best is not None:
            self._best = best
        if counted:
            self._finished += 1
            self._bar.update(1)
        else:
            self._failed += 1
        if self._lines and line:
            best = f", best {self._best}" if self._best != "-" else ""  # a confirm run has no best
            self._print(f"{line}; {self._finished}/{self._total} finished{best}")
        self.running(running)

    def epoch(self, line: str) -> None:
        """An epoch of a running trial ended (printed without a terminal, when verbose)."""
        if self._lines and self._verbose:
            self._print(line)

    def running(self, running: int) -> None:
        """Refresh the running count (and the ETA) without a finished trial."""
        postfix = f"best={self._best} running={running}"
        if self._failed:
            postfix += f" failed={self._failed}"
        self._bar.set_postfix_str(postfix, refresh=True)

    def close(self) -> None:
        self._bar.close()

    def _print(self, text: str) -> None:
        print(f"{self._name}: {text}", file=self._stream, flush=True)


def trial_line(trial: FrozenTrial, objectives: list[str], outcome: TrialOutcome | None = None) -> str:
    """One finished trial: ``trial 4 complete: val_accuracy=0.9123 (la_silu; lr=0.05), 12.3 s``."""
    if trial.state == TrialState.COMPLETE:
        state, what = "complete", ", ".join(f"{name}={value:.4g}" for name, value in zip(objectives, trial.values))
    elif trial.state == TrialState.PRUNED:
        epochs = len(((outcome.result if outcome else None) or {}).get("history") or ())
        state, what = "pruned", f"after {epochs} epochs"
    else:
        state, what = "failed", str(trial.user_attrs.get("fail_reason", "unknown reason"))
    config = trial.user_attrs.get("config") or {}
    described = ", ".join(config_labels(config)) if config else "no configuration"
    train = ", ".join(f"{key}={_number(value)}" for key, value in sorted((config.get("train") or {}).items()))
    if train:
        described += f"; {train}"
    seconds = f", {outcome.seconds:.1f} s" if outcome is not None and outcome.seconds else ""
    return f"trial {trial.number} {state}: {what} ({described}){seconds}"


def epoch_line(number: int, epoch: int, epochs: int, metrics: dict) -> str:
    """One epoch of a running trial: ``trial 4 epoch 2/10: val_accuracy 0.8512, train_loss 0.4211, ...``."""
    shown = ("val_accuracy", "train_loss", "val_loss", "seconds")
    values = ", ".join(f"{key} {_number(metrics[key])}" for key in shown if key in metrics)
    return f"trial {number} epoch {epoch}/{epochs}: {values}"


def _number(value: object) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


@contextlib.contextmanager
def optuna_verbosity(verbose: bool):
    """Silence Optuna's per-trial INFO lines during a run (the bar and trial logs replace them)."""
    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.INFO if verbose else optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(previous)
