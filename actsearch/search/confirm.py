"""The confirm stage on Ray: every (configuration, seed) run of a :class:`~actsearch.study.ConfirmPlan` as one
job on the search's workers, each recorded in the ``<name>.confirm`` study as soon as it ends.

The driver takes the study's lock, fixes the plan (the first time), marks runs left running by a killed
driver as interrupted, and runs what is pending: a dead worker or an out-of-memory run is re-run on a fresh
worker (up to ``budget.max_retries`` times), a diverged run is recorded as a failed run. At the end it
writes ``runs/<name>/confirm.json`` and returns the summary. Running it again after a kill resumes.

Example:
    >>> from actsearch.study import load_study_file
    >>> run = run_confirm(load_study_file("studies/quickstart.yaml"), seeds=3)  # doctest: +SKIP
    >>> print(run)  # doctest: +SKIP
    quickstart: 12/12 confirm runs complete (12 now, 0 failed) in 41.0 s; results in runs/quickstart/confirm.json
"""

from __future__ import annotations

import logging
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import optuna
import ray
from optuna.trial import TrialState

from actsearch.activations import cpu_kernels_available
from actsearch.errors import ActsearchError, ConfigError
from actsearch.search.cluster import RaySession, error_lines
from actsearch.search.progress import TrialProgress, optuna_verbosity
from actsearch.search.runner import TrainerRunner, TrialRunner
from actsearch.study import (
    CONFIRM_SUFFIX,
    RETRIED_FAILURES,
    ConfirmPlan,
    DriverLock,
    StudyFile,
    TrialOutcome,
    build_plan,
    confirm_summary,
    confirm_values,
    fix_plan,
    open_confirm_study,
    open_storage,
    pending_runs,
    recorded_plan,
    recover_interrupted,
    run_directory,
    write_confirm_json,
    write_trial_log,
)

__all__ = ["ConfirmRun", "run_confirm"]

logger = logging.getLogger(__name__)

_POLL_S = 1.0


@dataclass(frozen=True)
class ConfirmRun:
    """What a confirm run did, and the stage's results (``summary``, as ``confirm.json`` holds them)."""

    study_name: str
    summary: dict
    json_path: Path
    complete: int = 0  # runs completed by this call
    failed: int = 0
    retried: int = 0
    recovered: list[int] = field(default_factory=list)  # interrupted runs found at start
    workers: int = 0
    loop_s: float = 0.0

    def __str__(self) -> str:
        runs = self.summary["runs"]
        counts = f"{self.complete} now, {self.failed} failed" + (f", {self.retried} retried" if self.retried else "")
        return (f"{self.study_name}: {runs['complete']}/{runs['planned']} confirm runs complete ({counts}) in "
                f"{self.loop_s:.1f} s; results in {self.json_path}")


def run_confirm(
    study_file: StudyFile,
    *,
    top: int | None = None,
    seeds: int | None = None,
    only_baselines: bool = False,
    workers: int | None = None,
    ray_address: str | None = None,
    runs_dir: str | Path = ".",
    progress: bool = True,
    verbose: bool = False,
    trial_runner: TrialRunner | None = None,
) -> ConfirmRun:
    """Run (or resume) the confirm stage; ``top``, ``seeds`` and ``workers`` override the study file.

    ConfigError when there is nothing to confirm (no finished trial and no ``only_baselines``).
    """
    run_dir = run_directory(study_file.name, runs_dir)
    with optuna_verbosity(verbose), DriverLock(run_dir):
        storage, _ = open_storage(study_file.storage, study_file.name, runs_dir=runs_dir, repair=True)
        plan = _stored_plan(study_file, storage)
        if plan is None or seeds is not None or top is not None:
            search = None if only_baselines else _load(study_file.name, storage)
            plan = build_plan(study_file, search, top=top, seed_count=seeds, only_baselines=only_baselines)
            plan = fix_plan(open_confirm_study(study_file, storage), plan)
        confirm_study = open_confirm_study(study_file, storage)
        confirmation = _Confirmation(study_file, confirm_study, plan, run_dir)
        confirmation.recovered = recover_interrupted(confirm_study)
        pending = pending_runs(plan, confirm_study, study_file.budget.max_retries)
        if pending:
            execution = study_file.execution
            cpu_kernels_available()  # built here once, before the workers start
            with RaySession(
                ray_address or execution.ray_address,
                workers=workers or execution.workers,
                cpus_per_trial=execution.cpus_per_trial,
                gpus_per_trial=execution.gpus_per_trial,
                imports=study_file.imports,
                verbose=verbose,
            ) as session:
                runner = trial_runner or TrainerRunner(evaluate_test=plan.evaluate == "test")
                confirmation.run(session, runner, pending, progress=progress)
        summary = confirm_summary(plan, confirm_study, max_retries=study_file.budget.max_retries)
        path = write_confirm_json(study_file, summary, runs_dir=runs_dir)
    run = ConfirmRun(study_file.name, summary, path, workers=len(confirmation.workers),
                     recovered=confirmation.recovered, loop_s=confirmation.loop_s, **confirmation.counts)
    if "warning" in summary["fidelity"]:
        logger.warning("proxy fidelity: Spearman %.2f over %d configurations: %s", summary["fidelity"]["spearman"],
                       summary["fidelity"]["n"], summary["fidelity"]["warning"])
    if progress:
        print(run, file=sys.stderr)
    return run


def _load(name: str, storage) -> optuna.Study | None:
    try:
        return optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        return None


def _stored_plan(study_file: StudyFile, storage) -> ConfirmPlan | None:
    """The plan a previous confirm run fixed; nothing is created when there is none."""
    confirm_study = _load(study_file.name + CONFIRM_SUFFIX, storage)
    return recorded_plan(confirm_study) if confirm_study is not None else None


@dataclass
class _Job:
    trial: optuna.Trial
    key: str
    seed: int
    worker: int


class _Confirmation:
    """One confirm run: the workers, the runs in flight and the counters."""

    def __init__(self, study_file: StudyFile, study: optuna.Study, plan: ConfirmPlan, run_dir: Path) -> None:
        self.study_file = study_file
        self.study = study
        self.plan = plan
        self.log_dir = run_dir / "confirm"
        self.workers: list = []
        self.running: dict[ray.ObjectRef, _Job] = {}
        self.counts = {"complete": 0, "failed": 0, "retried": 0}
        self.recovered: list[int] = []
        self.loop_s = 0.0

    def run(self, session: RaySession, runner: TrialRunner, pending: list, *, progress: bool) -> None:
        self.session, self.runner = session, runner
        count = min(session.slots.count, len(pending))
        self.workers = [session.start_worker(runner, None) for _ in range(count)]
        total = len(self.plan.jobs())
        self.bar = TrialProgress(f"{self.study_file.name}{CONFIRM_SUFFIX}", total=total,
                                 finished=total - len(pending), enabled=progress, unit="run")
        started = time.perf_counter()
        try:
            try:
                ray.get([worker.ready.remote() for worker in self.workers])
            except ray.exceptions.RayError as error:
                raise ActsearchError(f"the confirm workers could not start: {error_lines(error)}") from None
            self._loop(deque(pending))
        except (KeyboardInterrupt, ConfigError):
            self._interrupt()
            raise
        finally:
            self.loop_s = time.perf_counter() - started
            self.bar.close()
            for worker in self.workers:
                ray.kill(worker, no_restart=True)

    def _loop(self, queue: deque) -> None:
        idle = list(range(len(self.workers)))
        while True:
            while idle and queue:
                self._dispatch(idle.pop(), *queue.popleft())
            if not self.running:
                return
            ready, _ = ray.wait(list(self.running), num_returns=1, timeout=_POLL_S)
            self.bar.running(len(self.running))
            for ref in ready:
                job, outcome = self._receive(ref)
                idle.append(job.worker)
                self._record(job, outcome)
                if outcome.fail_kind == "missing_dataset":
                    raise ConfigError(f"a worker cannot load the data: {outcome.fail_reason}")
                if outcome.fail_kind in RETRIED_FAILURES:
                    retry = [run for run in pending_runs(self.plan, self.study, self.study_file.budget.max_retries)
                             if run[:2] == (job.key, job.seed)]
                    queue.extendleft(retry)
                    self.counts["retried"] += len(retry)

    def _dispatch(self, worker: int, key: str, seed: int, attempt: int) -> None:
        candidate = self.plan.candidate(key)
        trial = self.study.ask()
        for name, value in (("config_id", key), ("seed", seed), ("label", candidate.label),
                            ("kind", candidate.kind), ("attempt", attempt), ("config", candidate.config)):
            trial.set_user_attr(name, value)
        ref = self.workers[worker].run.remote(trial.number, self.plan.run_task(seed), candidate.config, False)
        self.running[ref] = _Job(trial, key, seed, worker)

    def _receive(self, ref: ray.ObjectRef) -> tuple[_Job, TrialOutcome]:
        job = self.running.pop(ref)
        try:
            outcome = ray.get(ref)
        except ray.exceptions.RayError as error:
            kind = "out_of_memory" if isinstance(error, ray.exceptions.OutOfMemoryError) else "worker_died"
            reason = "out of memory" if kind == "out_of_memory" else "worker died"
            self._replace_worker(job.worker)
            return job, TrialOutcome(job.trial.number, "failed", fail_kind=kind,
                                     fail_reason=f"{reason}: {error_lines(error)}")
        if outcome.fail_kind == "out_of_memory":
            self._replace_worker(job.worker)
        return job, outcome

    def _replace_worker(self, index: int) -> None:
        ray.kill(self.workers[index], no_restart=True)
        self.workers[index] = self.session.start_worker(self.runner, None)

    def _record(self, job: _Job, outcome: TrialOutcome) -> None:
        trial = job.trial
        values = None
        if outcome.result is not None:
            trial.set_user_attr("result", outcome.result)
            trial.set_user_attr("metrics", {k: v for k, v in outcome.result.items() if isinstance(v, (int, float))})
        if outcome.status == "complete":
            values = confirm_values(self.plan, outcome.result)
            if values is None:
                outcome.status, outcome.fail_kind = "failed", "error"
                outcome.fail_reason = f"error: the result lacks an objective on the {self.plan.evaluate} split"
        if values is not None:
            frozen = self.study.tell(trial, values)
            self.counts["complete"] += 1
        else:
            trial.set_user_attr("fail_kind", outcome.fail_kind)
            trial.set_user_attr("fail_reason", outcome.fail_reason)
            frozen = self.study.tell(trial, state=TrialState.FAIL)
            self.counts["failed"] += 1
        write_trial_log(self.log_dir, frozen, outcome)
        settled = values is not None or outcome.fail_kind not in RETRIED_FAILURES  # a retried run comes back
        what = (", ".join(f"{o['name']}={value:.4g}" for o, value in zip(self.plan.objectives, values))
                + f" ({self.plan.evaluate} split)" if values is not None else f"failed: {outcome.fail_reason}")
        line = f"{self.plan.candidate(job.key).label} seed {job.seed}: {what}, {outcome.seconds:.1f} s"
        self.bar.trial_finished(running=len(self.running), counted=settled, line=line)

    def _interrupt(self) -> None:
        """Ctrl-C or a stop: the runs in flight are marked interrupted, to run again on resume."""
        for job in self.running.values():
            job.trial.set_user_attr("fail_reason", "interrupted")
            self.study.tell(job.trial, state=TrialState.FAIL)
        self.running.clear()
