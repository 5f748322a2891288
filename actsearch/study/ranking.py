"""Ranking a study's trials: the candidates a pick chooses from, and the knee of a Pareto set.

Example:
    >>> knee_index([[0.9, 300.0], [0.8, 100.0], [0.5, 90.0]], ["maximize", "minimize"])
    1
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import optuna
from optuna.trial import FrozenTrial, TrialState

__all__ = ["knee_index", "ranked_candidates"]


def ranked_candidates(study: optuna.Study) -> list[FrozenTrial]:
    """Trials a pick chooses from, best first by the first objective.

    One objective: every complete trial. Several: the Pareto set.
    """
    direction = study.directions[0]
    if len(study.directions) > 1:
        candidates = list(study.best_trials)
    else:
        candidates = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    sign = -1.0 if direction == optuna.study.StudyDirection.MAXIMIZE else 1.0
    return sorted(candidates, key=lambda trial: (sign * trial.values[0], trial.number))


def knee_index(points: Sequence[Sequence[float]], directions: Sequence[str]) -> int:
    """The point nearest the ideal one, each objective scaled to [0, 1] with 1 the best seen; ties: the first.

    ``directions`` are ``"maximize"`` / ``"minimize"`` (or Optuna's ``StudyDirection``).
    """
    columns = list(zip(*points))
    distances = []
    for point in points:
        distance = 0.0
        for value, column, direction in zip(point, columns, directions):
            low, high = min(column), max(column)
            scaled = 1.0 if high == low else (value - low) / (high - low)
            if _minimize(direction) and high != low:
                scaled = 1.0 - scaled
            distance += (1.0 - scaled) ** 2
        distances.append(math.sqrt(distance))
    return min(range(len(points)), key=lambda index: (distances[index], index))


def _minimize(direction) -> bool:
    return direction in ("minimize", optuna.study.StudyDirection.MINIMIZE)
