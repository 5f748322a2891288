"""What a search can optimise: one table row per objective, and the values Optuna is told.

Adding an objective is one row of :data:`OBJECTIVES`: its name in study files, its direction, the key of
``TrialResult.to_dict()`` that holds its value, whether the pruner may see it grow with the per-epoch
validation accuracy, and whether it needs ``task.corruptions``.

Example:
    >>> objective_values(["val_accuracy", "parameters"], {"val_accuracy": 0.91, "n_parameters": 272474})
    [0.91, 272474.0]
    >>> OBJECTIVES["latency"].direction
    'minimize'
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from actsearch.errors import ActsearchError

__all__ = ["OBJECTIVES", "MissingObjectiveError", "ObjectiveSpec", "objective_values"]


@dataclass(frozen=True)
class ObjectiveSpec:
    """One objective: ``result_key`` names its value in ``TrialResult.to_dict()``."""

    name: str
    direction: str
    result_key: str
    prunable: bool = False
    needs_corruptions: bool = False
    description: str = ""


OBJECTIVES: dict[str, ObjectiveSpec] = {
    spec.name: spec
    for spec in (
        ObjectiveSpec("val_accuracy", "maximize", "val_accuracy", prunable=True,
                      description="fraction of validation images classified right"),
        ObjectiveSpec("corrupted_accuracy", "maximize", "corrupted_accuracy", prunable=True, needs_corruptions=True,
                      description="mean accuracy over the task's corruptions and severities"),
        ObjectiveSpec("parameters", "minimize", "n_parameters", description="trainable parameter count"),
        ObjectiveSpec("throughput", "maximize", "images_per_second", description="training images per second"),
        ObjectiveSpec("latency", "minimize", "latency_ms", description="inference milliseconds per image"),
    )
}


class MissingObjectiveError(ActsearchError):
    """A finished trial's result lacks an objective value (None or NaN)."""


def objective_values(objective_names: Sequence[str], result: Mapping[str, object]) -> list[float]:
    """The values Optuna is told, in the study's objective order."""
    values = []
    for name in objective_names:
        value = result.get(OBJECTIVES[name].result_key)
        if value is None or not math.isfinite(float(value)):
            raise MissingObjectiveError(f"objective {name!r} has no value in the trial result ({value!r})")
        values.append(float(value))
    return values
