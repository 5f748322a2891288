"""The search driver: owns the Optuna study, dispatches trials to Ray workers, prunes, survives failures.

One driver per study is the study's only writer: it asks a trial, decodes it into a
:class:`~actsearch.spaces.TrialConfig`, sends it to an idle worker, answers the worker's epoch reports
with the pruner's decision, and tells the result. Running the same study file again resumes it.

Example:
    >>> from actsearch.study import load_study_file
    >>> summary = run_study(load_study_file("studies/quickstart.yaml"), n_trials=4)  # doctest: +SKIP
    >>> print(summary)  # doctest: +SKIP
    quickstart: 4/4 finished (4 complete, 0 pruned, 0 failed) in 21.3 s; best 0.9792 (trial 0); ...
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import ray

from actsearch.activations import cpu_kernels_available
from actsearch.errors import ConfigError
from actsearch.search.cluster import RaySession
from actsearch.search.progress import optuna_verbosity
from actsearch.search.runner import TrainerRunner, TrialRunner
from actsearch.search.scheduler import TrialScheduler
from actsearch.search.summary import RunSummary
from actsearch.search.tracking import TrialCallback, TrialTracking
from actsearch.study import (
    DriverLock,
    StudyFile,
    open_storage,
    prepare_study,
    run_directory,
    write_missing_trial_logs,
)
from actsearch.study.preflight import check_dataset, check_network, check_resources, study_warnings

__all__ = ["RunSummary", "run_study"]

logger = logging.getLogger(__name__)


def run_study(
    study_file: StudyFile,
    *,
    n_trials: int | None = None,
    ray_address: str | None = None,
    runs_dir: str | Path = ".",
    progress: bool = True,
    verbose: bool = False,
    trial_runner: TrialRunner | None = None,
    callbacks: Sequence[TrialCallback] = (),
) -> RunSummary:
    """Run (or resume) a study until it holds ``n_trials`` finished trials (default ``budget.trials``).

    ``ray_address`` joins a running Ray cluster (default: the study file's, else a local Ray).
    ``runs_dir`` holds ``runs/<name>/`` (journal, per-trial logs). ``progress`` draws a bar on a
    terminal, else prints a line per finished trial (and per epoch with ``verbose``), and the summary line.
    ``trial_runner`` replaces the trainer (tests, benchmarks).
    ``callbacks``: each called as ``callback(study, frozen_trial)`` for every finished trial, as
    ``study.optimize`` calls them (optuna-integration's ``MLflowCallback`` plugs in unchanged); see
    :mod:`actsearch.search.tracking` for the weights and TensorBoard curves a run also keeps.
    """
    target = study_file.budget.trials if n_trials is None else n_trials
    if target < 1:
        raise ConfigError(f"number of trials must be at least 1, got {target}")
    run_dir = run_directory(study_file.name, runs_dir)
    execution = study_file.execution
    address = ray_address or execution.ray_address
    with optuna_verbosity(verbose):
        # What every worker would trip over is checked first, and nothing is written before Ray is up.
        check_network(study_file)
        for warning in study_warnings(study_file):
            logger.warning(warning)
        with RaySession(
            address,
            workers=execution.workers,
            cpus_per_trial=execution.cpus_per_trial,
            gpus_per_trial=execution.gpus_per_trial,
            imports=study_file.imports,
            verbose=verbose,
        ) as session:
            _check_cluster(study_file, session, local=not session.joined)
            with DriverLock(run_dir):
                storage, where = open_storage(study_file.storage, study_file.name, runs_dir=runs_dir, repair=True)
                study, recovered = prepare_study(study_file, storage, where)
                write_missing_trial_logs(run_dir, study)
                tracking = TrialTracking(study, study_file, run_dir, callbacks)
                search = TrialScheduler(study, study_file, target=target, run_dir=run_dir, storage=where,
                                 recovered=recovered, tracking=tracking)
                if search.finished >= target or search.stop_rules.reason:
                    summary = search.summary()
                else:
                    cpu_kernels_available()  # built here once, before the workers start, rather than by each of them
                    summary = search.run(session, trial_runner or TrainerRunner(), progress=progress, verbose=verbose)
    if progress:
        print(summary, file=sys.stderr)
    return summary


def _check_cluster(study_file: StudyFile, session: RaySession, *, local: bool) -> None:
    """Pre-flight checks that need the cluster: its GPUs against the task, the data where workers read it."""
    nodes = [node for node in ray.nodes() if node.get("Alive")]
    warnings = check_resources(
        study_file.task.device,
        gpus_per_trial=session.slots.num_gpus,
        cluster_gpus=ray.cluster_resources().get("GPU", 0.0),
        largest_node_gpus=max((node["Resources"].get("GPU", 0.0) for node in nodes), default=0.0),
    )
    for warning in warnings:
        logger.warning(warning)
    if local:  # the workers share this machine and its files
        check_dataset(study_file)
