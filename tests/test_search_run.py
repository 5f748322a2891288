"""run_study end to end on a local Ray: workers, pruning, failures, retries, SIGKILL + resume, baselines.

One Ray session is shared by the module (starting Ray costs seconds). Most tests replace the trainer
with a deterministic fake runner (defined here, shipped to the workers by value); the first one
trains the real proxy (digits, smallcnn, one epoch).
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import optuna
import pytest
import ray
from optuna.trial import TrialState

from actsearch.errors import ConfigError
from actsearch.report import study_status
from actsearch.search import run_study
from actsearch.study import load_study_file, run_directory
from actsearch.trainers import DatasetNotFoundError, DivergenceError, TrialOutOfMemoryError, TrialResult
from kill_points import STEPS

ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
optuna.logging.set_verbosity(optuna.logging.WARNING)

LR_LOW, LR_HIGH = 0.01, 0.3


pytestmark = pytest.mark.usefixtures("local_ray")


def write_study(
    folder: Path,
    name: str,
    *,
    trials: int,
    workers: int = 2,
    epochs: int = 2,
    pruner: str = "none",
    timeout: float | None = None,
    extra: str = "",
) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            name: {name}
            task: {{dataset: digits, network: smallcnn, epochs: {epochs}, train_subset: 256, batch_size: 64}}
            space:
              families: {{relu: {{}}, silu: {{}}}}
              train: {{lr: {{low: {LR_LOW}, high: {LR_HIGH}, log: true}}}}
            sampler: {{name: random}}
            pruner: {pruner}
            budget: {{trials: {trials}, max_retries: 2, timeout: {timeout if timeout else "null"}}}
            execution: {{workers: {workers}, cpus_per_trial: 1, gpus_per_trial: 0}}
            seed: 3
            """
        )
        + textwrap.dedent(extra)
    )
    return path


def score(lr: float) -> float:
    """Fake accuracy in [0, 1], growing with log(lr)."""
    return (math.log(lr) - math.log(LR_LOW)) / (math.log(LR_HIGH) - math.log(LR_LOW))


class FakeRunner:
    """Stands in for the trainer: ``score(lr) * epoch / epochs`` per epoch, optionally sleeping per epoch,
    dying (``os._exit``) on the first trial when ``crash_marker`` does not exist yet, diverging on a family, or
    failing every trial with ``error``."""

    def __init__(
        self,
        *,
        epoch_s: float = 0.0,
        crash_marker: str | None = None,
        oom_marker: str | None = None,
        diverge: str | None = None,
        missing_data: bool = False,
        error: str | None = None,
    ):
        self.epoch_s = epoch_s
        self.crash_marker = crash_marker
        self.oom_marker = oom_marker
        self.diverge = diverge
        self.missing_data = missing_data
        self.error = error

    def __call__(self, task, config, on_epoch):
        if self.error:
            raise RuntimeError(self.error)
        if self.missing_data:
            raise DatasetNotFoundError(f"dataset 'cifar10' not found in {task.data_root}")
        if self.crash_marker and not os.path.exists(self.crash_marker):
            Path(self.crash_marker).touch()
            os._exit(1)
        if self.oom_marker and not os.path.exists(self.oom_marker):
            Path(self.oom_marker).touch()
            raise TrialOutOfMemoryError("CUDA out of memory (fake)")
        history = []
        for epoch in range(1, task.epochs + 1):
            if self.diverge in config.families():
                raise DivergenceError("nan", epoch=epoch)
            time.sleep(self.epoch_s)
            accuracy = score(config.train["lr"]) * epoch / task.epochs
            metrics = {"epoch": epoch, "val_accuracy": accuracy, "train_loss": 1.0}
            history.append(metrics)
            on_epoch(epoch, metrics)
        return TrialResult(
            val_accuracy=history[-1]["val_accuracy"], epochs_completed=task.epochs, history=history, n_parameters=10
        )


def finished_logs(folder: Path) -> list[Path]:
    """Trial logs of ended trials (a running trial's log says ``state: RUNNING``)."""
    logs = []
    for path in folder.glob("*.json") if folder.exists() else ():
        try:
            if json.loads(path.read_text())["state"] != "RUNNING":
                logs.append(path)
        except (OSError, ValueError):
            continue
    return logs


def trials_by_state(study: optuna.Study, state: TrialState) -> list:
    return study.get_trials(deepcopy=False, states=(state,))


def load(study_file, runs_dir: Path) -> optuna.Study:
    journal = run_directory(study_file.name, runs_dir) / "journal.log"
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    return optuna.load_study(study_name=study_file.name, storage=storage)


def test_two_workers_train_real_proxy_and_every_trial_decodes(tmp_path):
    study_file = load_study_file(write_study(tmp_path, "real", trials=4, epochs=1))
    summary = run_study(study_file, runs_dir=tmp_path, progress=False)
    assert (summary.finished, summary.complete, summary.failed, summary.workers) == (4, 4, 0, 2)
    study = load(study_file, tmp_path)
    complete = trials_by_state(study, TrialState.COMPLETE)
    assert len(complete) == 4
    for trial in complete:
        assert study_file.space.decode(trial.params).to_dict() == trial.user_attrs["config"]
        assert trial.user_attrs["families"] == sorted(study_file.space.decode(trial.params).families())
        assert 0.0 <= trial.value <= 1.0 and trial.value == trial.user_attrs["result"]["val_accuracy"]
        assert trial.intermediate_values == {1: trial.user_attrs["result"]["history"][0]["val_accuracy"]}
        assert (run_directory("real", tmp_path) / "trials" / f"{trial.number}.json").exists()
    assert str(run_directory("real", tmp_path)) in str(summary)
    assert "complete 4" in study_status(study_file, runs_dir=tmp_path)


def test_pruning_stops_bad_trials_early(tmp_path):
    pruner = "{name: median, options: {n_startup_trials: 2, n_warmup_steps: 0}}"
    study_file = load_study_file(write_study(tmp_path, "prune", trials=10, workers=1, epochs=4, pruner=pruner))
    summary = run_study(study_file, runs_dir=tmp_path, progress=False, trial_runner=FakeRunner())
    study = load(study_file, tmp_path)
    pruned, complete = trials_by_state(study, TrialState.PRUNED), trials_by_state(study, TrialState.COMPLETE)
    assert summary.finished == len(pruned) + len(complete) == 10
    assert pruned and summary.pruned == len(pruned)
    for trial in pruned:
        epochs = trial.user_attrs["result"]["epochs_completed"]
        assert epochs < 4 and len(trial.user_attrs["result"]["history"]) == epochs
        assert sorted(trial.intermediate_values) == list(range(1, epochs + 1))
    assert all(trial.user_attrs["result"]["epochs_completed"] == 4 for trial in complete)
    # A pruned trial stopped because it was worse than the median of earlier trials at that epoch.
    best_pruned = max(score(trial.params["train.lr"]) for trial in pruned)
    assert best_pruned < max(trial.value for trial in complete)


def test_worker_dying_inside_a_trial_is_retried_and_the_study_completes(tmp_path):
    study_file = load_study_file(write_study(tmp_path, "crash", trials=4, workers=1))
    runner = FakeRunner(crash_marker=str(tmp_path / "crashed"))
    summary = run_study(study_file, runs_dir=tmp_path, progress=False, trial_runner=runner)
    study = load(study_file, tmp_path)
    died = [t for t in trials_by_state(study, TrialState.FAIL) if t.user_attrs["fail_reason"].startswith("worker died")]
    assert len(died) == summary.retried == 1
    for trial in died:
        retries = [t for t in study.trials if t.user_attrs.get("retry_of") == trial.number]
        assert len(retries) == 1 and retries[0].params == trial.params
        assert retries[0].user_attrs["attempt"] == 2 and retries[0].state == TrialState.COMPLETE
    assert len(trials_by_state(study, TrialState.COMPLETE)) == summary.finished == 4


def test_out_of_memory_is_retried_on_a_fresh_worker(tmp_path):
    study_file = load_study_file(write_study(tmp_path, "oom", trials=3, workers=1))
    runner = FakeRunner(oom_marker=str(tmp_path / "oom"))
    summary = run_study(study_file, runs_dir=tmp_path, progress=False, trial_runner=runner)
    study = load(study_file, tmp_path)
    (failed,) = trials_by_state(study, TrialState.FAIL)
    assert failed.user_attrs["fail_reason"] == "out of memory: CUDA out of memory (fake)"
    (retry,) = [t for t in study.trials if t.user_attrs.get("retry_of") == failed.number]
    assert retry.params == failed.params and retry.state == TrialState.COMPLETE
    logs = run_directory("oom", tmp_path) / "trials"
    pid = {t.number: json.loads((logs / f"{t.number}.json").read_text())["worker_pid"] for t in (failed, retry)}
    assert pid[failed.number] != pid[retry.number]
    assert summary.finished == 3 and summary.retried == 1


def test_missing_dataset_stops_the_run_with_its_message_and_keeps_the_trials(tmp_path):
    study_file = load_study_file(write_study(tmp_path, "nodata", trials=6, workers=2))
    with pytest.raises(ConfigError, match="a worker cannot load the data: dataset 'cifar10' not found"):
        run_study(study_file, runs_dir=tmp_path, progress=False, trial_runner=FakeRunner(missing_data=True))
    study = load(study_file, tmp_path)
    assert not trials_by_state(study, TrialState.RUNNING)
    failed = trials_by_state(study, TrialState.FAIL)
    assert 1 <= len(failed) <= 2
    # Each failed trial waits, with the same parameters, for the run after the data is fixed.
    waiting = trials_by_state(study, TrialState.WAITING)
    assert sorted(t.user_attrs["retry_of"] for t in waiting) == sorted(t.number for t in failed)


def test_diverging_configuration_fails_without_retry_and_baseline_runs_first(tmp_path):
    extra = """\
        baselines: [{family: silu}]
    """
    study_file = load_study_file(write_study(tmp_path, "nan", trials=4, workers=1, extra=extra))
    summary = run_study(study_file, runs_dir=tmp_path, progress=False, trial_runner=FakeRunner(diverge="silu"))
    study = load(study_file, tmp_path)
    assert study.trials[0].user_attrs["baseline"] == "silu"
    failed = trials_by_state(study, TrialState.FAIL)
    assert failed and summary.failed == len(failed) and summary.retried == 0
    assert all(t.user_attrs["fail_reason"] == "diverged: loss became nan at epoch 1" for t in failed)
    assert all(t.user_attrs["families"] == ["silu"] for t in failed)
    assert not any("retry_of" in t.user_attrs for t in study.trials)
    assert len(trials_by_state(study, TrialState.COMPLETE)) == 4
    assert "diverged: loss became nan at epoch 1" in study_status(study_file, runs_dir=tmp_path)


def test_budget_timeout_stops_dispatching_and_lets_running_trials_finish(tmp_path):
    study_file = load_study_file(write_study(tmp_path, "timeout", trials=100, workers=1, timeout=1))
    summary = run_study(study_file, runs_dir=tmp_path, progress=False, trial_runner=FakeRunner(epoch_s=0.2))
    study = load(study_file, tmp_path)
    assert summary.stopped == "timeout of 1 s" and "stopped: timeout of 1 s" in str(summary)
    assert 1 <= summary.finished == len(trials_by_state(study, TrialState.COMPLETE)) < 100
    assert len(study.trials) == summary.finished


DRIVER_SCRIPT = """
import sys, time
from actsearch.search import run_study
from actsearch.study import load_study_file
from actsearch.trainers import TrialResult

def slow(task, config, on_epoch):
    for epoch in range(1, task.epochs + 1):
        time.sleep(0.5)
        on_epoch(epoch, {"epoch": epoch, "val_accuracy": 0.5, "train_loss": 1.0})
    return TrialResult(val_accuracy=config.train["lr"], epochs_completed=task.epochs)

run_study(load_study_file(sys.argv[1]), runs_dir=sys.argv[2], progress=False, trial_runner=slow)
"""


def test_driver_killed_then_resumed_finishes_exactly_the_budget(tmp_path):
    extra = """\
        baselines: [{family: relu, train: {lr: 0.1}}]
    """
    path = write_study(tmp_path, "resume", trials=6, extra=extra)
    study_file = load_study_file(path)
    script = tmp_path / "driver.py"
    script.write_text(DRIVER_SCRIPT)
    logs = run_directory("resume", tmp_path) / "trials"
    driver = subprocess.Popen([sys.executable, str(script), str(path), str(tmp_path)], start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while len(finished_logs(logs)) < 2:
            assert driver.poll() is None, "the driver ended before it could be killed"
            assert time.monotonic() < deadline, "the driver finished no trial in time"
            time.sleep(0.1)
    finally:
        os.killpg(driver.pid, signal.SIGKILL)  # the driver and the local Ray it started
        driver.wait()

    before = load(study_file, tmp_path)
    told = {t.number: t.value for t in trials_by_state(before, TrialState.COMPLETE)}
    interrupted = {t.number: t.params for t in trials_by_state(before, TrialState.RUNNING)}
    assert len(told) >= 2 and interrupted
    (logs / f"{min(told)}.json").unlink()  # as if the driver was killed between the tell and the log

    summary = run_study(study_file, runs_dir=tmp_path, progress=False, trial_runner=FakeRunner())
    assert sorted(summary.recovered) == sorted(interrupted)
    study = load(study_file, tmp_path)
    complete = trials_by_state(study, TrialState.COMPLETE)
    assert len(complete) == summary.finished == 6
    assert {t.number: t.value for t in complete if t.number in told} == told
    for number, params in interrupted.items():
        assert study.trials[number].state == TrialState.FAIL
        assert study.trials[number].user_attrs["fail_reason"] == "interrupted"
        retries = [t for t in study.trials if t.user_attrs.get("retry_of") == number]
        assert len(retries) == 1 and retries[0].params == params and retries[0].state == TrialState.COMPLETE
    assert len({t.params["train.lr"] for t in complete}) == 6  # no trial ran twice
    told_trials = [t for t in study.trials if t.state in (TrialState.COMPLETE, TrialState.FAIL)]
    assert sorted(int(log.stem) for log in logs.glob("*.json")) == [t.number for t in told_trials]
    assert all(json.loads((logs / f"{n}.json").read_text())["fail_reason"] == "interrupted" for n in interrupted)
    originals = [t for t in study.trials if t.user_attrs.get("baseline") == "relu" and "retry_of" not in t.user_attrs]
    assert len(originals) == 1 and study.user_attrs["baselines_enqueued"] is True
    assert not trials_by_state(study, TrialState.RUNNING) and not trials_by_state(study, TrialState.WAITING)

    again = run_study(study_file, runs_dir=tmp_path, progress=False, trial_runner=FakeRunner())
    assert (again.finished, again.complete, again.workers) == (6, 0, 0)
    assert len(load(study_file, tmp_path).trials) == len(study.trials)

    more = run_study(study_file, n_trials=7, runs_dir=tmp_path, progress=False, trial_runner=FakeRunner())
    assert (more.finished, more.complete, more.workers) == (7, 1, 1)
    study = load(study_file, tmp_path)
    assert [t.user_attrs.get("baseline") for t in study.trials if "retry_of" not in t.user_attrs].count("relu") == 1


def test_unreachable_storage_is_a_config_error(tmp_path):
    extra = f"""\
        storage: sqlite:///{tmp_path}/missing/folder/runs.db
    """
    study_file = load_study_file(write_study(tmp_path, "nowhere", trials=1, extra=extra))
    with pytest.raises(ConfigError, match="cannot open storage sqlite:///.*missing/folder/runs.db"):
        run_study(study_file, runs_dir=tmp_path, progress=False, trial_runner=FakeRunner())


KILLED_DRIVER_SCRIPT = """
import os, sys, time
from pathlib import Path
sys.path.insert(0, {tests!r})
from kill_points import install
from actsearch.search import run_study
from actsearch.study import load_study_file
from actsearch.trainers import TrialResult

study_path, runs_dir, step, address, marker = sys.argv[1:]

def crash_first_then_slow(task, config, on_epoch):
    if not os.path.exists(marker):  # the first trial's worker dies
        Path(marker).touch()
        os._exit(1)
    for epoch in range(1, task.epochs + 1):
        time.sleep(0.5)
        on_epoch(epoch, {{"epoch": epoch, "val_accuracy": 0.5, "train_loss": 1.0}})
    return TrialResult(val_accuracy=0.5, epochs_completed=task.epochs)

install(step)
run_study(load_study_file(study_path), runs_dir=runs_dir, ray_address=address, progress=False,
          trial_runner=crash_first_then_slow)
"""


def assert_every_configuration_finished_once(study, interrupted):
    """Each interrupted trial's chain of retries holds its parameters and exactly one complete trial."""
    for number in interrupted:
        chain, successors = [number], [t for t in study.trials if t.user_attrs.get("retry_of") == number]
        while successors:
            (successor,) = successors
            chain.append(successor.number)
            successors = [t for t in study.trials if t.user_attrs.get("retry_of") == successor.number]
        finished = [n for n in chain if study.trials[n].state == TrialState.COMPLETE]
        assert len(finished) == 1, f"trial {number}: its configuration finished {len(finished)} times"
        assert all(study.trials[n].params == study.trials[number].params for n in chain)


@pytest.mark.parametrize("interruption", ["worker_died", "ctrl_c"])
@pytest.mark.parametrize("step", STEPS)
def test_driver_killed_at_each_step_of_a_retry_loses_no_configuration(tmp_path, interruption, step):
    extra = """\
        baselines: [{family: relu}, {family: silu}]
    """
    path = write_study(tmp_path, f"{interruption}_{step}", trials=4, workers=1, extra=extra)
    study_file = load_study_file(path)
    script = tmp_path / "driver.py"
    script.write_text(KILLED_DRIVER_SCRIPT.format(tests=str(Path(__file__).parent)))
    marker = tmp_path / ("crashed" if interruption == "worker_died" else "no_crash")
    if interruption == "ctrl_c":
        marker.touch()
    address = ray.get_runtime_context().gcs_address
    driver = subprocess.Popen([sys.executable, str(script), str(path), str(tmp_path), step, address, str(marker)])
    try:
        if interruption == "ctrl_c":
            wait_for_a_running_trial(study_file, tmp_path, driver)
            driver.send_signal(signal.SIGINT)
        assert driver.wait(timeout=120) == -signal.SIGKILL  # killed by itself, right after its `step`
    finally:
        if driver.poll() is None:
            driver.kill()
    before = load(study_file, tmp_path)
    interrupted = [t.number for t in before.trials if t.state in (TrialState.FAIL, TrialState.RUNNING)]
    assert interrupted

    run_study(study_file, runs_dir=tmp_path, progress=False, trial_runner=FakeRunner())
    study = load(study_file, tmp_path)
    assert sorted(t.user_attrs["baseline"] for t in trials_by_state(study, TrialState.COMPLETE)
                  if "baseline" in t.user_attrs) == ["relu", "silu"]
    assert_every_configuration_finished_once(study, interrupted)
    assert len(trials_by_state(study, TrialState.COMPLETE)) == 4
    assert not trials_by_state(study, TrialState.RUNNING) and not trials_by_state(study, TrialState.WAITING)


def wait_for_a_running_trial(study_file, runs_dir: Path, driver: subprocess.Popen) -> None:
    journal = run_directory(study_file.name, runs_dir) / "journal.log"
    deadline = time.monotonic() + 60
    while True:
        assert driver.poll() is None, "the driver ended before it could be interrupted"
        assert time.monotonic() < deadline, "the driver started no trial in time"
        if journal.exists():
            try:
                if trials_by_state(load(study_file, runs_dir), TrialState.RUNNING):
                    time.sleep(0.3)  # the trial reached its worker
                    return
            except KeyError:  # the study is not created yet
                pass
        time.sleep(0.1)


def test_first_trials_failing_alike_stop_the_run_and_keep_the_baselines_queued(tmp_path):
    extra = """\
        baselines: [{family: relu}, {family: silu}]
    """
    study_file = load_study_file(write_study(tmp_path, "broken", trials=15, workers=1, extra=extra))
    no_cuda = "Found no NVIDIA driver on your system"
    with pytest.raises(ConfigError, match=f"the first 3 trials all failed the same way, whatever their configuration: "
                                          f"error: RuntimeError: {no_cuda}; fix the study file"):
        run_study(study_file, runs_dir=tmp_path, progress=False, trial_runner=FakeRunner(error=no_cuda))
    study = load(study_file, tmp_path)
    assert len(trials_by_state(study, TrialState.FAIL)) == 3
    waiting = trials_by_state(study, TrialState.WAITING)
    assert sorted(t.user_attrs["retry_of"] for t in waiting) == [0, 1, 2]
    assert sorted(t.user_attrs.get("baseline", "") for t in waiting) == ["", "relu", "silu"]

    summary = run_study(study_file, runs_dir=tmp_path, progress=False, trial_runner=FakeRunner())  # fixed
    study = load(study_file, tmp_path)
    complete = trials_by_state(study, TrialState.COMPLETE)
    assert summary.finished == len(complete) == 15
    assert sorted(t.user_attrs["baseline"] for t in complete if "baseline" in t.user_attrs) == ["relu", "silu"]


def test_diverging_first_trials_do_not_stop_the_run(tmp_path):
    extra = """\
        baselines:
          - {family: silu}
          - {name: silu2, family: silu, train: {lr: 0.02}}
          - {name: silu3, family: silu, train: {lr: 0.05}}
    """
    study_file = load_study_file(write_study(tmp_path, "diverging", trials=4, workers=1, extra=extra))
    summary = run_study(study_file, runs_dir=tmp_path, progress=False, trial_runner=FakeRunner(diverge="silu"))
    assert summary.finished == 4 and summary.failed >= 3


@pytest.mark.parametrize("task, placement, message", [
    ("device: cuda", "global", "task.device: 'cuda' but the Ray cluster has no GPU"),
    ("device: cpu", "{patterns: [nothing_here]}",
     "space.placement: pattern 'nothing_here' matches no activation module of network 'smallcnn'"),
    ("dataset: imagefolder, data_root: /nonexistent", "global", "task.dataset: "),
])
def test_mistakes_every_worker_would_make_stop_the_run_before_anything_is_written(tmp_path, task, placement, message):
    path = tmp_path / "mistaken.yaml"
    path.write_text(
        f"name: mistaken\ntask: {{network: smallcnn, {task}}}\n"
        f"space: {{families: [relu, silu], placement: {placement}}}\nbaselines: [relu]\n"
        "execution: {workers: 1, gpus_per_trial: 0}\n"
    )
    with pytest.raises(ConfigError, match=re.escape(message)):
        run_study(load_study_file(path), runs_dir=tmp_path, progress=False, trial_runner=FakeRunner())
    assert not (tmp_path / "runs").exists()
