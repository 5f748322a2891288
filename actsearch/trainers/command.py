"""``actsearch train``: train one configuration at full fidelity and print its scores.

:func:`train_command` runs :func:`~actsearch.trainers.run_trial` with the test set evaluated, prints one progress
line per epoch to stderr, then the clean validation/test accuracy and the corrupted accuracy (per category
and per severity) as a text table or JSON on stdout. To reproduce a paper's setup, take the task and
hyperparameters from :func:`~actsearch.trainers.presets.paper_setup` (e.g. ``"layeract-cifar10-resnet20"``).

Example::

    >>> import io
    >>> from actsearch.trainers import Task, train_command
    >>> report = train_command(Task(dataset="digits", network="smallcnn", epochs=1), "relu",
    ...                        stream=io.StringIO(), progress=io.StringIO())
    >>> sorted(report)
    ['plan', 'result', 'task', 'train']
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import TextIO

from actsearch.activations import PlacementPlan
from actsearch.trainers.hparams import resolve_hparams
from actsearch.trainers.loop import run_trial
from actsearch.trainers.task import Task

__all__ = ["format_report", "train_command"]


def train_command(task: Task, plan, hparams: Mapping[str, object] | None = None, *, evaluate_test: bool = True,
                  as_json: bool = False, stream: TextIO | None = None, progress: TextIO | None = None) -> dict:
    """Train ``plan`` (anything :meth:`PlacementPlan.parse` accepts) on ``task`` and print the scores.

    Returns ``{"task": ..., "plan": ..., "train": <all hyperparameters>, "result": TrialResult.to_dict()}``;
    prints it as JSON when ``as_json``, else as a table, to ``stream`` (stdout); epoch lines go to ``progress``
    (stderr). Errors (:class:`~actsearch.errors.ConfigError`, :class:`~actsearch.trainers.DivergenceError`, ...)
    propagate for the caller to report.
    """
    stream = sys.stdout if stream is None else stream
    progress = sys.stderr if progress is None else progress
    plan = plan if isinstance(plan, PlacementPlan) else PlacementPlan.parse(plan)
    hparams = resolve_hparams(hparams)

    def report_epoch(epoch: int, metrics: dict) -> None:
        print(f"epoch {epoch}/{task.epochs}  train_loss {metrics['train_loss']:.4f}  "
              f"val_accuracy {100 * metrics['val_accuracy']:.2f}%  lr {metrics['lr']:.4g}  "
              f"{metrics['seconds']:.1f}s", file=progress, flush=True)

    result = run_trial(task, plan, hparams, on_epoch=report_epoch, evaluate_test=evaluate_test)
    report = {"task": task.to_dict(), "plan": plan.to_dict(), "train": _jsonable(hparams), "result": result.to_dict()}
    if as_json:
        json.dump(report, stream, indent=2)
        stream.write("\n")
    else:
        stream.write(format_report(report))
    stream.flush()
    return report


def format_report(report: Mapping[str, object]) -> str:
    """The text table of a :func:`train_command` report."""
    task, result = report["task"], report["result"]
    rows = [
        ("task", f"{task['network']} (width {task['width']}) on {task['dataset']}, {result['epochs_completed']} "
                 f"epochs, batch {task['batch_size']}, seed {task['seed']}"),
        ("activations", _describe_plan(report["plan"])),
        ("validation accuracy", _percent(result["val_accuracy"])),
    ]
    if result["test_accuracy"] is not None:
        rows.append(("test accuracy", _percent(result["test_accuracy"])))
    corrupted = result["corrupted"]
    if corrupted is not None:
        split = "test" if result["test_accuracy"] is not None else "validation"
        if task.get("corruptions") in ("cifar-c", ["cifar-c"]):
            split = f"official {'CIFAR-100-C' if task['dataset'] == 'cifar100' else 'CIFAR-10-C'} files"
        rows.append((f"corrupted accuracy ({split})", _percent(corrupted["mean"])))
        rows += [(f"  {category}", _percent(value)) for category, value in corrupted.get("per_category", {}).items()]
        rows += [(f"  severity {severity}", _percent(value))
                 for severity, value in corrupted.get("per_severity", {}).items()]
    rows += [
        ("parameters", f"{result['n_parameters']:,}"),
        ("training throughput", f"{result['images_per_second']:,.0f} images/s"),
        ("latency", f"{result['latency_ms']:.4f} ms/image (batch {task['batch_size']})"),
        ("time", f"{result['seconds']:.1f} s"),
    ]
    width = max(len(name) for name, _ in rows)
    return "".join(f"{name:<{width}}  {value}\n" for name, value in rows)


def _describe_plan(plan: Mapping[str, object]) -> str:
    def spec(entry: Mapping[str, object]) -> str:
        params = ", ".join(f"{k}={v}" for k, v in (entry.get("params") or {}).items())
        return f"{entry['family']}({params})" if params else entry["family"]

    parts = [f"{rule['pattern']}: {spec(rule['spec'])}" for rule in plan.get("rules", [])]
    if plan.get("default") is not None:
        parts.append(f"{'elsewhere' if parts else 'everywhere'}: {spec(plan['default'])}")
    return "; ".join(parts) or "ReLU (unchanged)"


def _percent(value: float) -> str:
    return f"{100 * value:.2f}%"


def _jsonable(hparams: Mapping[str, object]) -> dict[str, object]:
    return {key: list(value) if isinstance(value, tuple) else value for key, value in hparams.items()}
