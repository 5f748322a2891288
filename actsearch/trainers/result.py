"""What a trial returns, or why it stopped early: divergence, out of memory, or data that is not there.

Example::

    >>> from actsearch.trainers.result import DivergenceError, TrialResult
    >>> TrialResult(val_accuracy=0.9, epochs_completed=1).to_dict()["val_accuracy"]
    0.9
    >>> str(DivergenceError("nan", epoch=3))
    'loss became nan at epoch 3'
"""

from __future__ import annotations

import dataclasses

from actsearch.errors import ActsearchError, ConfigError

__all__ = ["DatasetNotFoundError", "DivergenceError", "TrialOutOfMemoryError", "TrialResult"]


@dataclasses.dataclass
class TrialResult:
    """Scores of one trained configuration; accuracies are fractions in [0, 1].

    ``corrupted`` is :func:`~actsearch.trainers.robustness.evaluate_corrupted`'s dict (on validation images during a
    search, on test images when the test set was evaluated) and ``corrupted_accuracy`` its mean; ``history`` holds
    one dict per epoch (``epoch`` counted from 1, ``train_loss``, ``train_accuracy``, ``val_loss``,
    ``val_accuracy``, ``lr``, ``seconds``). ``images_per_second`` is training throughput, ``latency_ms`` the
    eval-mode forward time per image at the task's batch size, ``seconds`` the whole trial's wall time.
    """

    val_accuracy: float
    epochs_completed: int
    test_accuracy: float | None = None
    corrupted: dict | None = None
    corrupted_accuracy: float | None = None
    history: list[dict] = dataclasses.field(default_factory=list)
    n_parameters: int = 0
    images_per_second: float = 0.0
    latency_ms: float = 0.0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> TrialResult:
        return cls(**data)



class DivergenceError(ActsearchError):
    """Training diverged at ``epoch`` (1-based): ``value`` is "nan" or "inf" (the loss), "finite" (the loss blew
    up while staying finite) or "chance" (accuracy stuck at chance); ``reason`` says what was seen.
    ``history`` holds the epochs completed before it (the loop fills it in)."""

    def __init__(self, value: str, epoch: int, *, reason: str | None = None,
                 history: list[dict] | None = None) -> None:
        super().__init__(f"{reason or f'loss became {value}'} at epoch {epoch}")
        self.value = value
        self.epoch = epoch
        self.reason = reason
        self.history = list(history or [])

    def __reduce__(self):
        return (_rebuild_divergence, (self.value, self.epoch, self.reason, self.history))


def _rebuild_divergence(value: str, epoch: int, reason: str | None, history: list[dict]) -> DivergenceError:
    return DivergenceError(value, epoch, reason=reason, history=history)


class TrialOutOfMemoryError(ActsearchError):
    """The accelerator ran out of memory: the configuration does not fit next to the others on the device."""


class DatasetNotFoundError(ConfigError):
    """The dataset files are missing: the message says where we looked and how to get them."""
