"""What a worker executes for one trial: a *trial runner*.

A trial runner is any picklable callable ``runner(task, config, on_epoch) -> TrialResult | dict``:
``task`` is a :class:`actsearch.trainers.Task`, ``config`` a :class:`actsearch.spaces.TrialConfig`, and
``on_epoch(epoch, metrics)`` must be called after each epoch with at least ``val_accuracy`` (it raises
to stop a pruned trial). A runner that can hand back the trained model also accepts the keyword
``on_trained(model)`` and calls it once trained; the worker passes it only when the study keeps weights. The
default, :class:`TrainerRunner`, trains with :func:`actsearch.trainers.run_trial`; tests and benchmarks pass a
runner that sleeps or does nothing.

Example:
    >>> def instant(task, config, on_epoch):
    ...     on_epoch(0, {"val_accuracy": 0.5, "train_loss": 1.0})
    ...     return {"val_accuracy": 0.5, "epochs_completed": 1, "history": []}
    >>> runner: TrialRunner = instant
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from actsearch.spaces import TrialConfig
from actsearch.trainers import Task, load_data, run_trial
from actsearch.trainers.task import resolve_device

__all__ = ["TrainerRunner", "TrialRunner", "accepts_on_trained", "result_to_dict"]

EpochCallback = Callable[[int, dict], None]


class TrialRunner(Protocol):
    """Runs one trial on a worker; see the module docstring."""

    def __call__(self, task: Task, config: TrialConfig, on_epoch: EpochCallback) -> Any: ...


class TrainerRunner:
    """Default runner: :func:`actsearch.trainers.run_trial` on data loaded to the device once.

    A worker keeps one instance for its whole life, so the dataset of a study is loaded on the
    first trial and reused by every later one. ``evaluate_test`` also scores the test split (the confirm
    stage's runs).
    """

    def __init__(self, *, evaluate_test: bool = False) -> None:
        self.evaluate_test = evaluate_test
        self._data_key: str | None = None
        self._data: Any = None

    def __call__(self, task: Task, config: TrialConfig, on_epoch: EpochCallback, on_trained=None) -> Any:
        return run_trial(task, config.plan, config.train, data=self._device_data(task), on_epoch=on_epoch,
                         on_trained=on_trained, evaluate_test=self.evaluate_test)

    def _device_data(self, task: Task) -> Any:
        key = json.dumps(task.to_dict(), sort_keys=True, default=str)
        if key != self._data_key:
            self._data = None  # free the previous dataset before loading the next one
            self._data = load_data(task, resolve_device(task.device))
            self._data_key = key
        return self._data


def accepts_on_trained(runner: TrialRunner) -> bool:
    """Whether ``runner`` takes the ``on_trained`` keyword (and so can hand back the trained model)."""
    try:
        parameters = inspect.signature(runner).parameters
    except (TypeError, ValueError):
        return False
    return "on_trained" in parameters or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())


def result_to_dict(result: Any) -> dict:
    """A runner's return value as a plain dict (TrialResult or mapping)."""
    if isinstance(result, Mapping):
        return dict(result)
    return result.to_dict()
