"""Trial worker: a long-lived Ray actor that runs trial after trial on its slot.

The driver creates one per slot (a CPU share, or a fraction of a GPU) with
``ray.remote(TrialWorker).options(num_cpus=..., num_gpus=..., max_restarts=0, max_task_retries=0)``:
a crash is never retried by Ray, the driver decides. Every error a trial raises comes back as a
:class:`TrialOutcome`, so only a dead process surfaces as a Ray error.

Example (without Ray):
    >>> from actsearch.trainers import Task
    >>> def instant(task, config, on_epoch):
    ...     on_epoch(0, {"val_accuracy": 0.5, "train_loss": 1.0})
    ...     return {"val_accuracy": 0.5, "epochs_completed": 1, "history": []}
    >>> worker = TrialWorker(instant, broker=None, threads=1)
    >>> config = {"plan": {"default": {"family": "relu", "params": {}}, "rules": []}, "train": {}}
    >>> worker.run(0, Task().to_dict(), config, prune=False).status
    'complete'
"""

from __future__ import annotations

import os
import time
import traceback

import optuna
import ray
import torch

from actsearch.search.runner import TrialRunner, accepts_on_trained, result_to_dict
from actsearch.spaces import TrialConfig
from actsearch.study.artifacts import state_dict_bytes
from actsearch.study.outcome import TrialOutcome
from actsearch.study.plugins import ImportEntry, load_plugins
from actsearch.trainers import DatasetNotFoundError, DivergenceError, Task, TrialOutOfMemoryError

__all__ = ["TrialOutcome", "TrialWorker"]


class _Pruned(Exception):
    """Raised from the epoch callback to unwind the trainer when the driver prunes the trial."""


class TrialWorker:
    """Runs trials with ``trial_runner``; tells ``broker`` each epoch, and asks it when pruning is on."""

    def __init__(self, trial_runner: TrialRunner, broker, threads: int, imports: tuple[ImportEntry, ...] = ()) -> None:
        load_plugins(imports)  # the study's families and networks, before any trial names them
        torch.set_num_threads(max(1, threads))
        self._runner = trial_runner
        self._broker = broker
        self._hands_back_models = accepts_on_trained(trial_runner)

    def ready(self) -> int:
        """Returns the worker's process id once it is up."""
        return os.getpid()

    def run(self, trial_number: int, task: dict, config: dict, prune: bool, weights: bool = False) -> TrialOutcome:
        """Run one trial; ``task`` is ``Task.to_dict()``, ``config`` is ``TrialConfig.to_dict()``; ``weights``:
        send the trained ``state_dict`` back too (when the runner can hand it back)."""
        started = time.perf_counter()
        history: list[dict] = []

        def on_epoch(epoch: int, metrics: dict) -> None:
            history.append({"epoch": epoch, **metrics})
            if self._broker is not None:
                self._broker.progress.remote(trial_number, epoch, history[-1])
            # The last epoch's value reaches the study with the result: no trial is pruned once trained.
            if prune and epoch < task["epochs"]:
                if ray.get(self._broker.report.remote(trial_number, epoch, float(metrics["val_accuracy"]))):
                    raise _Pruned

        outcome = TrialOutcome(trial_number, status="complete", worker_pid=os.getpid())
        extra = {}
        if weights and self._hands_back_models:
            extra["on_trained"] = lambda model: setattr(outcome, "weights", state_dict_bytes(model.state_dict()))
        try:
            result = self._runner(Task.from_dict(task), TrialConfig.from_dict(config), on_epoch, **extra)
            outcome.result = result_to_dict(result)
        except (_Pruned, optuna.TrialPruned):
            outcome.status = "pruned"
            outcome.result = {
                "val_accuracy": history[-1]["val_accuracy"] if history else None,
                "epochs_completed": len(history),
                "history": history,
            }
        except DatasetNotFoundError as error:
            self._fail(outcome, "missing_dataset", str(error), history)
        except DivergenceError as error:
            self._fail(outcome, "diverged", f"diverged: {error}", error.history or history)
        except (TrialOutOfMemoryError, torch.cuda.OutOfMemoryError, MemoryError) as error:
            self._fail(outcome, "out_of_memory", f"out of memory: {error}", history)
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except Exception as error:
            self._fail(outcome, "error", f"error: {type(error).__name__}: {error}", history)
            outcome.traceback = traceback.format_exc()
        outcome.seconds = time.perf_counter() - started
        return outcome

    @staticmethod
    def _fail(outcome: TrialOutcome, kind: str, reason: str, history: list[dict]) -> None:
        outcome.status = "failed"
        outcome.weights = None
        outcome.fail_kind = kind
        outcome.fail_reason = reason
        outcome.result = {"epochs_completed": len(history), "history": history} if history else None
