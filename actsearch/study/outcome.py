"""What a worker sends back for one trial, as the study records it.

Example:
    >>> TrialOutcome(trial_number=3, status="failed", fail_kind="diverged", fail_reason="loss is nan").status
    'failed'
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["RETRIED_FAILURES", "TrialOutcome"]

# Failures worth another attempt with the same configuration: not the configuration's fault.
RETRIED_FAILURES = ("worker_died", "out_of_memory", "missing_dataset")


@dataclass
class TrialOutcome:
    """What a worker sends back for one trial.

    ``status`` is "complete", "pruned" or "failed"; ``fail_kind`` ("diverged", "out_of_memory",
    "missing_dataset", "error") tells the driver whether to retry (or, for a missing dataset, to stop);
    ``result`` is ``TrialResult.to_dict()`` (for a pruned trial: the epochs it ran, in ``history``);
    ``weights`` the trained ``state_dict`` as ``torch.save`` bytes, when the driver asked for them.
    """

    trial_number: int
    status: str
    result: dict | None = None
    fail_kind: str | None = None
    fail_reason: str | None = None
    traceback: str | None = None
    seconds: float = 0.0
    worker_pid: int = 0
    weights: bytes | None = None
