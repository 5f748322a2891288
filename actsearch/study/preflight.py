"""Checks before any trial starts: mistakes every worker would make, found once, before anything is written.

- :func:`check_network`: the proxy network builds on the CPU with the baselines' and a sampled placement, and
  every placement pattern names at least one of its activation modules (``validate`` and ``run``);
- :func:`check_dataset`: the dataset is there (``run`` with a local Ray, whose workers share this machine);
- :func:`check_resources`: ``task.device`` against the Ray cluster's GPUs (``run``, once Ray is up);
- :func:`study_warnings`: settings that are allowed but most likely a mistake.

Each check raises :class:`~actsearch.errors.ConfigError` (``run`` exits 2) naming the setting.

Example:
    >>> check_resources("cpu", gpus_per_trial=0, cluster_gpus=0, largest_node_gpus=0)
    []
    >>> print(*check_resources("auto", gpus_per_trial=2, cluster_gpus=2, largest_node_gpus=1))
    execution.gpus_per_trial = 2 but the largest node of the Ray cluster has 1 GPUs: no worker can be placed; allowed: at most 1
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import optuna

from actsearch.activations import PlacementRule, is_activation_module
from actsearch.errors import ConfigError
from actsearch.trainers import DatasetNotFoundError, build_network
from actsearch.trainers.data import load_raw

if TYPE_CHECKING:
    from actsearch.study.studyfile import StudyFile

__all__ = [
    "LARGE_TRIAL_COUNT",
    "check_dataset",
    "check_network",
    "check_resources",
    "study_warnings",
    "unmatched_patterns",
]

LARGE_TRIAL_COUNT = 1_000_000
"""More trials than any search finishes: most likely a typo (``1e12`` for ``1e2``)."""


def unmatched_patterns(study_file: StudyFile) -> list[str]:
    """The placement patterns of the space that name no activation module of the task's network."""
    names = _activation_names(study_file)
    patterns = [slot.pattern for slot in study_file.space.placement.slots if slot.pattern is not None]
    return [pattern for pattern in patterns if not any(PlacementRule(pattern, "relu").matches(n) for n in names)]


def check_network(study_file: StudyFile) -> None:
    """ConfigError when a placement pattern matches nothing, or the network does not build with the baselines'
    configurations and one sampled from the space."""
    task = study_file.task
    unmatched = unmatched_patterns(study_file)
    if unmatched:
        names = _activation_names(study_file)
        raise ConfigError(
            f"space.placement: pattern{'s' if len(unmatched) > 1 else ''} {', '.join(map(repr, unmatched))} "
            f"match{'' if len(unmatched) > 1 else 'es'} no activation module of network {task.network!r}, so "
            f"{'they change' if len(unmatched) > 1 else 'it changes'} nothing; allowed: a module name, a prefix or "
            f"a glob of the network's activation modules ({', '.join(names[:6])}{', ...' if len(names) > 6 else ''})"
        )
    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "A new study created in memory" line
    try:
        sampled = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0)).ask()
    finally:
        optuna.logging.set_verbosity(previous)
    configs = [("a sampled configuration", study_file.space.suggest(sampled))]
    configs += [
        (f"baseline {baseline.name!r}", study_file.space.decode(study_file.space.baseline_params(baseline)))
        for baseline in study_file.baselines
    ]
    for what, config in configs:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                build_network(task, config.plan)
        except Exception as error:
            raise ConfigError(
                f"task.network: {task.network!r} does not build with {what} ({config.plan.families()}): "
                f"{type(error).__name__}: {error}"
            ) from None


def check_dataset(study_file: StudyFile) -> None:
    """ConfigError when the task's dataset cannot be read here (it is decoded into the cache the workers read)."""
    try:
        load_raw(study_file.task)
    except DatasetNotFoundError as error:
        raise ConfigError(f"task.dataset: {error}") from None


def check_resources(device: str, *, gpus_per_trial: float, cluster_gpus: float, largest_node_gpus: float) -> list[str]:
    """ConfigError when ``device`` needs a GPU that no worker will have; returns warnings about the rest."""
    if device.startswith("cuda"):
        if cluster_gpus == 0:
            raise ConfigError(
                f"task.device: {device!r} but the Ray cluster has no GPU; allowed here: 'auto' or 'cpu', or a "
                "cluster with GPUs"
            )
        if gpus_per_trial == 0:
            raise ConfigError(
                f"task.device: {device!r} but execution.gpus_per_trial is 0, and Ray hides the GPUs from a worker "
                "that holds none; allowed: gpus_per_trial > 0 (fractions share a GPU), or device 'auto' or 'cpu'"
            )
    if cluster_gpus and gpus_per_trial > largest_node_gpus:
        return [
            f"execution.gpus_per_trial = {gpus_per_trial:g} but the largest node of the Ray cluster has "
            f"{largest_node_gpus:g} GPUs: no worker can be placed; allowed: at most {largest_node_gpus:g}"
        ]
    return []


def study_warnings(study_file: StudyFile) -> list[str]:
    """Allowed settings that are most likely a mistake."""
    trials = study_file.budget.trials
    if trials > LARGE_TRIAL_COUNT:
        return [f"budget.trials = {trials:,} will not finish in any lifetime; the run goes on until stopped "
                "(Ctrl-C, budget.timeout); did you mean fewer?"]
    return []


def _activation_names(study_file: StudyFile) -> list[str]:
    model = build_network(study_file.task, None)
    return [name for name, module in model.named_modules() if is_activation_module(module)]
