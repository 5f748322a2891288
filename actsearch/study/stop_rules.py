"""Stop rules beyond a trial count and a timeout: ``budget.patience`` and ``budget.target``.

- ``patience: N``: stop once N finished trials in a row (complete or pruned, in the order they finished)
  brought no improvement. With one objective a trial improves when its value beats the best so far; with
  several, when no earlier complete trial dominates it (it enlarges the Pareto front).
- ``target``: stop once one complete trial reaches it (``>=`` when maximizing, ``<=`` when minimizing). With
  several objectives, a number is the first objective's target and a list gives one value (or null: any) per
  objective, all reached by the same trial.

The rules are judged on the study's trials, so a resumed run that already met one does not start again. The
driver stops asking new trials when a rule is met; the trials already running finish (the driver gives a freed
worker its next trial before telling the finished one, so that can be one more trial per worker).

Example:
    >>> from actsearch.study.sections import Budget
    >>> rules = StopRules(Budget(patience=2, target=0.95), ["maximize"])
    >>> for number, value in enumerate([0.80, 0.90, 0.85, 0.88]):
    ...     rules.observe_values(number, [value])
    >>> rules.reason
    'no improvement in 2 finished trials (patience 2)'
"""

from __future__ import annotations

from collections.abc import Sequence

import optuna
from optuna.trial import FrozenTrial, TrialState

from actsearch.study.sections import Budget

__all__ = ["StopRules"]


class StopRules:
    """The budget's patience and target, fed the finished trials one by one; ``reason`` once one is met."""

    def __init__(self, budget: Budget, directions: Sequence[str]) -> None:
        self.patience = budget.patience
        self.maximize = [direction == "maximize" for direction in directions]
        target = budget.target
        if target is None:
            self.targets: list[float | None] = []
        elif isinstance(target, list):
            self.targets = list(target)
        else:
            self.targets = [target] + [None] * (len(directions) - 1)
        self.front: list[list[float]] = []  # best value (one objective) or the Pareto front (several)
        self.without_improvement = 0
        self.reason: str | None = None

    @classmethod
    def for_study(cls, budget: Budget, directions: Sequence[str], study: optuna.Study) -> StopRules:
        """Rules that have seen the study's finished trials, in the order they finished."""
        rules = cls(budget, directions)
        finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
        for trial in sorted(finished, key=lambda t: (t.datetime_complete is None, t.datetime_complete, t.number)):
            rules.observe(trial)
        return rules

    def observe(self, trial: FrozenTrial) -> None:
        """One finished trial: its values when complete, none when pruned."""
        complete = trial.state == TrialState.COMPLETE and trial.values is not None
        self.observe_values(trial.number, list(trial.values) if complete else None)

    def observe_values(self, number: int, values: list[float] | None) -> None:
        """One finished trial by number: ``values`` None for a pruned trial."""
        if self.reason is not None:
            return
        if values is not None and self._improves(values):
            self.without_improvement = 0
        else:
            self.without_improvement += 1
        if values is not None and self._reaches_target(values):
            shown = ", ".join("any" if t is None else f"{t:g}" for t in self.targets)
            self.reason = f"target {shown} reached by trial {number}"
        elif self.patience is not None and self.without_improvement >= self.patience:
            self.reason = f"no improvement in {self.without_improvement} finished trials (patience {self.patience})"

    def _better_or_equal(self, a: list[float], b: list[float]) -> bool:
        return all((x >= y) if up else (x <= y) for x, y, up in zip(a, b, self.maximize))

    def _improves(self, values: list[float]) -> bool:
        if any(self._better_or_equal(kept, values) for kept in self.front):
            return False  # equalled or dominated by a trial before it
        self.front = [kept for kept in self.front if not self._better_or_equal(values, kept)] + [values]
        return True

    def _reaches_target(self, values: list[float]) -> bool:
        if not any(target is not None for target in self.targets):
            return False
        return all(target is None or ((value >= target) if up else (value <= target))
                   for value, target, up in zip(values, self.targets, self.maximize))
