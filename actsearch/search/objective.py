"""Objective values of a finished trial, read from its ``TrialResult.to_dict()``.

Example:
    >>> objective_values(["val_accuracy", "parameters"], {"val_accuracy": 0.91, "n_parameters": 272474})
    [0.91, 272474.0]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from actsearch.errors import ActsearchError

__all__ = ["OBJECTIVE_METRICS", "PRUNABLE_OBJECTIVES", "MissingObjectiveError", "objective_values"]

# Objective name -> key in TrialResult.to_dict().
OBJECTIVE_METRICS = {
    "val_accuracy": "val_accuracy",
    "corrupted_accuracy": "corrupted_accuracy",
    "parameters": "n_parameters",
    "throughput": "images_per_second",  # images/s
    "latency": "latency_ms",  # ms per image
}

# Objectives that grow with the per-epoch validation accuracy the pruner sees.
PRUNABLE_OBJECTIVES = ("val_accuracy", "corrupted_accuracy")


class MissingObjectiveError(ActsearchError):
    """A finished trial's result lacks an objective value (None or NaN)."""


def objective_values(objective_names: Sequence[str], result: Mapping[str, object]) -> list[float]:
    """The values Optuna is told, in the study's objective order."""
    values = []
    for name in objective_names:
        value = result.get(OBJECTIVE_METRICS[name])
        if value is None or not math.isfinite(float(value)):
            raise MissingObjectiveError(f"objective {name!r} has no value in the trial result ({value!r})")
        values.append(float(value))
    return values
