"""The loop of one search run: ask a trial, dispatch it to an idle Ray worker, answer its epoch reports
with the pruner's decision, record what comes back, replace dead or overdue workers, stop on a rule.

:func:`actsearch.search.driver.run_study` prepares the study and the Ray session, then hands them to a
:class:`TrialScheduler`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import optuna
import ray
from optuna.trial import TrialState

from actsearch.errors import ActsearchError, ConfigError
from actsearch.search.cluster import RaySession, error_lines
from actsearch.search.progress import TrialProgress, epoch_line, trial_line
from actsearch.search.runner import TrialRunner
from actsearch.search.summary import RunSummary
from actsearch.search.timeouts import TrialTimeLimit
from actsearch.study import (
    FINISHED_STATES,
    OBJECTIVES,
    RETRIED_FAILURES,
    EarlyFailures,
    MissingObjectiveError,
    StopRules,
    TrialOutcome,
    enqueue_retry,
    fail_trial,
    objective_values,
    write_running_log,
    write_trial_log,
)

__all__ = ["TrialScheduler"]

logger = logging.getLogger(__name__)

# How often the loop wakes up without news, to refresh the bar and check the timeout (seconds).
_POLL_S = 1.0


@dataclass
class _Running:
    trial: optuna.Trial
    worker: int  # index into TrialScheduler.workers
    config: dict
    reported: set[int] = field(default_factory=set)  # epochs already given to trial.report
    history: list[dict] = field(default_factory=list)  # epochs finished so far, from the worker's progress notes
    started: float = field(default_factory=time.monotonic)


class TrialScheduler:
    """State of one run: the study, the workers, the trials in flight and the counters."""

    def __init__(self, study, study_file, *, target, run_dir, storage, recovered, tracking) -> None:
        self.study = study
        self.tracking = tracking
        self.study_file = study_file
        self.target = target
        self.run_dir = run_dir
        self.storage = storage
        self.recovered = recovered
        self.objectives = [objective.name for objective in study_file.objectives]
        self.task = study_file.task.to_dict()
        self.finished = len(study.get_trials(deepcopy=False, states=FINISHED_STATES))
        self.counts = {"complete": 0, "pruned": 0, "failed": 0, "retried": 0}
        self.consecutive_failures = 0
        self.last_failure = ""
        self.early_failures = EarlyFailures()
        self.stop_rules = StopRules.for_study(study_file.budget, study_file.directions, study)
        self.stopped = self.stop_rules.reason or "budget reached"
        self.prune = self._pruning_enabled()
        self.trial_limit = TrialTimeLimit(study_file.budget.trial_timeout_s)
        self.trial_limit.update(study)
        self.workers: list = []
        self.starting: dict[int, ray.ObjectRef] = {}  # replaced workers not yet up: their trials' clocks wait
        self.running: dict[ray.ObjectRef, _Running] = {}
        self.by_number: dict[int, _Running] = {}
        self.untold = 0  # finished trials received but not yet told
        self.startup_s = 0.0
        self.loop_s = 0.0
        self.best_value: float | None = None
        self.best_text: str | None = None
        if len(self.objectives) == 1 and study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            self._note_best([study.best_value])

    def _pruning_enabled(self) -> bool:
        if isinstance(self.study.pruner, optuna.pruners.NopPruner):
            return False
        if len(self.objectives) > 1:
            logger.warning(
                "pruning is off: study %r has %d objectives and Optuna's pruners handle one",
                self.study_file.name,
                len(self.objectives),
            )
            return False
        if not OBJECTIVES[self.objectives[0]].prunable:
            logger.warning(
                "pruning is off: the pruner watches validation accuracy, which says nothing about %r",
                self.objectives[0],
            )
            return False
        return True

    # -- the loop ---------------------------------------------------------------------------------

    def run(
        self, session: RaySession, trial_runner: TrialRunner, *, progress: bool, verbose: bool = False
    ) -> RunSummary:
        started = time.perf_counter()
        self.session = session
        self.trial_runner = trial_runner
        self.broker = session.start_broker()  # epoch reports for the pruner, progress notes for the logs
        count = min(session.slots.count, self.target - self.finished)
        self.workers = [session.start_worker(trial_runner, self.broker) for _ in range(count)]
        try:
            try:
                ray.get([worker.ready.remote() for worker in self.workers])
            except ray.exceptions.RayError as error:
                raise ActsearchError(f"the trial workers could not start: {error_lines(error)}") from None
            self.startup_s = time.perf_counter() - started
            self._timed_loop(progress, verbose)
        finally:
            # A Ray session shared with the caller outlives the run: free the slots it held.
            for actor in [*self.workers, self.broker]:
                if actor is not None:
                    ray.kill(actor, no_restart=True)
        return self.summary()

    def _timed_loop(self, progress: bool, verbose: bool) -> None:
        timeout_s = self.study_file.budget.timeout_s
        self.deadline = None if timeout_s is None else time.monotonic() + timeout_s
        self.bar = TrialProgress(
            self.study_file.name, total=self.target, finished=self.finished, enabled=progress, verbose=verbose
        )
        loop_started = time.perf_counter()
        try:
            self._loop()
        except (KeyboardInterrupt, ConfigError):
            self._interrupt()
            raise
        finally:
            self.loop_s = time.perf_counter() - loop_started
            self.bar.close()

    def _loop(self) -> None:
        idle = list(range(len(self.workers)))
        reports = self.broker.next_reports.remote()
        while True:
            idle += self._stop_overdue_trials()  # every result that arrived in time was received above
            self._fill(idle)
            if not self.running:
                return
            waiting = [*self.running, reports]
            ready, _ = ray.wait(waiting, num_returns=1, timeout=_POLL_S)
            if not ready:
                self.bar.running(len(self.running))
                continue
            ready, _ = ray.wait(waiting, num_returns=len(waiting), timeout=0)
            if reports in ready:
                self._answer_reports(*ray.get(reports))
                reports = self.broker.next_reports.remote()
            received = [self._receive(ref) for ref in ready if ref != reports and ref in self.running]
            idle += [entry.worker for entry, _ in received]
            # Failures first, so their retries are enqueued before the next ask. Finished trials are told
            # after the freed workers have their next trial: telling is the slowest part of the driver.
            finished = [(entry, outcome) for entry, outcome in received if outcome.status != "failed"]
            missing_data = shared_failure = None
            for entry, outcome in received:
                shared_failure = self.early_failures.observe(
                    entry.trial.number, entry.config, outcome.fail_kind, outcome.fail_reason) or shared_failure
                if outcome.status == "failed":
                    self._record(entry, outcome)
                    if outcome.fail_kind == "missing_dataset":
                        missing_data = outcome.fail_reason
            if missing_data is None and shared_failure is None:
                self.untold = len(finished)
                self._fill(idle)
                self.untold = 0
            for entry, outcome in finished:
                self._record(entry, outcome)
            if shared_failure is not None:
                self._stop_for_shared_failure(shared_failure)
            if missing_data is not None:
                # Every trial would fail the same way: stop, keeping the failed trial for the next run.
                raise ConfigError(f"a worker cannot load the data: {missing_data}")

    def _stop_for_shared_failure(self, reason: str) -> None:
        """The first trials all failed the same way whatever their configuration: queue them again and stop."""
        trials = self.study.get_trials(deepcopy=False)
        for number in self.early_failures.numbers:
            enqueue_retry(self.study, trials[number])
        raise ConfigError(
            f"the first {len(self.early_failures.numbers)} trials all failed the same way, whatever their "
            f"configuration: {reason}; fix the study file or the cluster and run again: these trials and the "
            "baselines not yet run are queued for it"
        )

    def _fill(self, idle: list[int]) -> None:
        """Give a trial to every idle worker while the budget allows."""
        while idle and self._may_dispatch():
            if self._dispatch(idle[-1]):
                idle.pop()

    def _may_dispatch(self) -> bool:
        if self.finished + self.untold + len(self.running) >= self.target:
            return False
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self.stopped = f"timeout of {self.study_file.budget.timeout_s:g} s"
            return False
        if self.stop_rules.reason:
            self.stopped = self.stop_rules.reason
            return False
        if self.consecutive_failures >= 10 + 2 * len(self.workers):
            self.stopped = f"{self.consecutive_failures} failed trials in a row, last: {self.last_failure}"
            return False
        return True

    def _dispatch(self, worker: int) -> bool:
        """Ask a trial and send it to ``worker``; False when its configuration failed to decode."""
        trial = self.study.ask()
        if "attempt" not in trial.user_attrs:
            trial.set_user_attr("attempt", 1)
        try:
            config = self.study_file.space.suggest(trial)
        except Exception as error:  # a bad enqueued point or space bug: the trial fails, the study goes on
            self._fail(trial, "error", f"invalid configuration: {type(error).__name__}: {error}")
            return False
        config_dict = config.to_dict()
        trial.set_user_attr("config", config_dict)
        trial.set_user_attr("families", config.plan.families())
        ref = self.workers[worker].run.remote(trial.number, self.task, config_dict, self.prune,
                                              self.tracking.wants_weights)
        self.running[ref] = self.by_number[trial.number] = _Running(trial, worker, config_dict)
        return True

    def _answer_reports(self, reports: list[tuple[int, int, float]], progress: list[tuple[int, int, dict]]) -> None:
        for number, epoch, metrics in progress:
            entry = self.by_number.get(number)
            if entry is not None:
                entry.history.append(metrics)
                write_running_log(self.run_dir, number, config=entry.config, history=entry.history)
                self.bar.epoch(epoch_line(number, epoch, self.study_file.task.epochs, metrics))
        if not reports:
            return
        decisions = []
        for number, epoch, value in reports:
            entry = self.by_number.get(number)
            prune = False
            if entry is not None:
                entry.trial.report(value, epoch)
                entry.reported.add(epoch)
                prune = entry.trial.should_prune()
            decisions.append((number, prune))
        self.broker.decide.remote(decisions)

    def _receive(self, ref: ray.ObjectRef) -> tuple[_Running, TrialOutcome]:
        """A trial's outcome from its worker; a dead or out-of-memory worker is replaced (a dead one's trial is
        marked failed)."""
        entry = self.running.pop(ref)
        del self.by_number[entry.trial.number]
        try:
            outcome = ray.get(ref)
        except ray.exceptions.RayError as error:
            kind = "out_of_memory" if isinstance(error, ray.exceptions.OutOfMemoryError) else "worker_died"
            reason = "out of memory" if kind == "out_of_memory" else "worker died"
            self._replace_worker(entry.worker)
            return entry, TrialOutcome(
                entry.trial.number, "failed", fail_kind=kind, fail_reason=f"{reason}: {error_lines(error)}"
            )
        # Epochs whose progress notes had not reached the driver when the trial ended.
        for metrics in ((outcome.result or {}).get("history") or ())[len(entry.history):]:
            epoch = metrics.get("epoch", 0)
            self.bar.epoch(epoch_line(entry.trial.number, epoch, self.study_file.task.epochs, metrics))
        if outcome.fail_kind == "out_of_memory":
            # A fresh process gives the retry a clean allocator instead of this worker's fragmented memory.
            self._replace_worker(entry.worker)
        return entry, outcome

    def _replace_worker(self, index: int) -> None:
        ray.kill(self.workers[index], no_restart=True)
        self.workers[index] = self.session.start_worker(self.trial_runner, self.broker)
        self.starting[index] = self.workers[index].ready.remote()

    def _stop_overdue_trials(self) -> list[int]:
        """Fail the trials past ``budget.trial_timeout`` (reason "timeout"); returns their freed workers."""
        now = time.monotonic()
        for index, ready in list(self.starting.items()):
            if ray.wait([ready], timeout=0)[0]:
                del self.starting[index]
                for entry in self.running.values():
                    if entry.worker == index:
                        entry.started = now  # a worker's start-up is not its trial's time
        overdue = [ref for ref, entry in self.running.items()
                   if entry.worker not in self.starting and self.trial_limit.overdue(started=entry.started, now=now)]
        freed = []
        for ref in overdue:
            entry = self.running.pop(ref)
            del self.by_number[entry.trial.number]
            self._replace_worker(entry.worker)  # the only way to stop a trial mid-epoch is to stop its process
            result = {"epochs_completed": len(entry.history), "history": entry.history} if entry.history else None
            reason = f"timeout: still running after {now - entry.started:.0f} s ({self.trial_limit.describe()})"
            self._record(entry, TrialOutcome(entry.trial.number, "failed", result=result, fail_kind="timeout",
                                             fail_reason=reason, seconds=now - entry.started))
            freed.append(entry.worker)
        return freed

    # -- telling the study ------------------------------------------------------------------------

    def _record(self, entry: _Running, outcome: TrialOutcome) -> None:
        trial = entry.trial
        if outcome.result is not None:
            trial.set_user_attr("result", outcome.result)
        if outcome.status == "complete":
            try:
                values = objective_values(self.objectives, outcome.result)
            except MissingObjectiveError as error:
                self._fail(trial, "error", f"error: {error}", outcome)
                return
            if len(self.objectives) == 1:
                # Epochs the pruner did not see: all of them without pruning, else the last one.
                for step, epoch in enumerate(outcome.result.get("history") or (), start=1):
                    step = epoch.get("epoch", step)
                    if step not in entry.reported and "val_accuracy" in epoch:
                        trial.report(float(epoch["val_accuracy"]), step)
            self.tracking.before_tell(trial, values, outcome)
            frozen = self.study.tell(trial, values)
            self.counts["complete"] += 1
            self._note_best(values)
            self.trial_limit.update(self.study)
        elif outcome.status == "pruned":
            frozen = self.study.tell(trial, state=TrialState.PRUNED)
            self.counts["pruned"] += 1
        else:
            self._fail(trial, outcome.fail_kind, outcome.fail_reason, outcome)
            return
        self.finished += 1
        self.consecutive_failures = 0
        self.stop_rules.observe(frozen)
        self.tracking.after_tell(frozen, outcome)
        write_trial_log(self.run_dir, frozen, outcome)
        line = trial_line(frozen, self.objectives, outcome)
        self.bar.trial_finished(best=self.best_text, running=len(self.running), line=line)

    def _fail(self, trial: optuna.Trial, kind: str, reason: str, outcome: TrialOutcome | None = None) -> None:
        retry = kind in RETRIED_FAILURES and trial.user_attrs.get("attempt", 1) <= self.study_file.budget.max_retries
        frozen, retried = fail_trial(self.study, trial, reason, retry=retry)
        self.counts["failed"] += 1
        self.counts["retried"] += retried
        self.consecutive_failures += 1
        self.last_failure = reason
        self.tracking.after_tell(frozen, outcome)
        write_trial_log(self.run_dir, frozen, outcome)
        line = trial_line(frozen, self.objectives, outcome)
        self.bar.trial_finished(running=len(self.running), counted=False, line=line)

    def _interrupt(self) -> None:
        """Ctrl-C: give the trials in flight back to the study, to run again on resume."""
        for entry in self.running.values():
            frozen, _ = fail_trial(self.study, entry.trial, "interrupted", retry=True)
            write_trial_log(self.run_dir, frozen)
        self.running.clear()

    # -- reporting --------------------------------------------------------------------------------

    def _note_best(self, values: list[float]) -> None:
        if len(self.objectives) > 1:
            self.best_text = f"{len(self.study.best_trials)} on Pareto front"
            return
        maximize = self.study.direction == optuna.study.StudyDirection.MAXIMIZE
        if self.best_value is None or (values[0] > self.best_value if maximize else values[0] < self.best_value):
            self.best_value = values[0]
            self.best_text = f"{values[0]:.4g}"

    def summary(self) -> RunSummary:
        complete = self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        best = [(t.number, list(t.values)) for t in self.study.best_trials] if complete else []
        if len(self.objectives) == 1:
            best = best[:1]
        return RunSummary(
            study_name=self.study_file.name,
            storage=self.storage,
            run_dir=self.run_dir,
            target=self.target,
            finished=self.finished,
            recovered=self.recovered,
            best=best,
            workers=len(self.workers),
            startup_s=self.startup_s,
            loop_s=self.loop_s,
            stopped=self.stopped,
            **self.counts,
        )
