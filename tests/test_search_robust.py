"""A search that cannot be held up or fooled: per-trial time limit, family coverage, progress without a terminal,
divergence reasons recorded; on a local Ray with fake trainers (shipped to the workers by value)."""

from __future__ import annotations

import json
import math
import re
import sys
import textwrap
import time
from pathlib import Path

import optuna
import pytest
import ray
from optuna.trial import TrialState

from actsearch.report import study_status
from actsearch.search import run_study
from actsearch.study import load_study, load_study_file, run_directory
from actsearch.trainers import DivergenceError, TrialResult

ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
optuna.logging.set_verbosity(optuna.logging.WARNING)


pytestmark = pytest.mark.usefixtures("local_ray")


def write_study(folder: Path, name: str, *, families: str, trials: int, budget: str = "", extra: str = "",
                workers: int = 1, epochs: int = 2) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: {name}
        task: {{dataset: digits, network: smallcnn, epochs: {epochs}}}
        space:
          families: {families}
          train: {{lr: {{low: 0.01, high: 0.3, log: true}}}}
        sampler: {{name: random}}
        pruner: none
        budget: {{trials: {trials}{budget}}}
        execution: {{workers: {workers}, cpus_per_trial: 1, gpus_per_trial: 0}}
        seed: 5
        """) + textwrap.dedent(extra))
    return path


class Runner:
    """Fake trainer: ``epoch_s`` per epoch; ``slow`` families sleep a minute; ``explode`` families diverge
    (finitely) at epoch 2 after reporting epoch 1."""

    def __init__(self, *, epoch_s: float = 0.0, slow: tuple[str, ...] = (), explode: tuple[str, ...] = ()):
        self.epoch_s, self.slow, self.explode = epoch_s, slow, explode

    def __call__(self, task, config, on_epoch):
        families = set(config.families())
        history = []
        for epoch in range(1, task.epochs + 1):
            time.sleep(60 if families & set(self.slow) else self.epoch_s)
            metrics = {"epoch": epoch, "val_accuracy": 0.5 + 0.1 * epoch, "train_loss": 1.0 / epoch}
            if families & set(self.explode) and epoch == 2:
                raise DivergenceError("finite", epoch, reason="loss 1e+27 is above 10 x its starting value 2.3",
                                      history=history)
            history.append(metrics)
            on_epoch(epoch, metrics)
        return TrialResult(val_accuracy=history[-1]["val_accuracy"], epochs_completed=task.epochs, history=history)


def trials(study_file, runs_dir, *states):
    return load_study(study_file, runs_dir=runs_dir).get_trials(deepcopy=False, states=states or None)


def test_a_slow_trial_times_out_and_frees_its_worker(tmp_path):
    study_file = load_study_file(write_study(tmp_path, "slow", families="[relu, apalu]", trials=3,
                                             budget=", trial_timeout: 2"))
    summary = run_study(study_file, runs_dir=tmp_path, progress=False, trial_runner=Runner(slow=("apalu",)))
    assert summary.finished == 3 and summary.retried == 0
    failed = trials(study_file, tmp_path, TrialState.FAIL)
    assert failed and all(t.user_attrs["families"] == ["apalu"] for t in failed)
    assert all(t.user_attrs["fail_reason"].startswith("timeout: still running after ") for t in failed)
    assert all("budget.trial_timeout 2 s" in t.user_attrs["fail_reason"] for t in failed)
    logs = run_directory("slow", tmp_path) / "trials"
    pids = {json.loads((logs / f"{t.number}.json").read_text())["worker_pid"] for t in
            trials(study_file, tmp_path, TrialState.COMPLETE)}
    assert len(pids) >= 2  # the worker that ran the slow trial was replaced
    assert "timeout: still running after" in study_status(study_file, runs_dir=tmp_path)


def test_five_families_three_trials_each_family_is_covered_first(tmp_path):
    families = "{relu: {}, silu: {}, gelu: {}, elu: {alpha: {low: 0.5, high: 1.5}}, " \
               "leaky_relu: {negative_slope: {low: 0.001, high: 0.1, log: true}}}"
    extra = "baselines: [{family: silu, train: {lr: 0.1}}]\n"
    study_file = load_study_file(write_study(tmp_path, "cover", families=families, trials=3, extra=extra))
    run_study(study_file, runs_dir=tmp_path, progress=False, trial_runner=Runner())
    done = trials(study_file, tmp_path, TrialState.COMPLETE)
    assert [t.params["act.family"] for t in done] == ["silu", "relu", "gelu"]  # the baseline, then the others
    assert [t.user_attrs.get("cover_family") for t in done] == [None, "relu", "gelu"]
    assert done[1].params["train.lr"] == pytest.approx(math.sqrt(0.01 * 0.3))  # the centre of a log range
    status = study_status(study_file, runs_dir=tmp_path)
    assert "families never completed: elu, leaky_relu" in status

    run_study(study_file, n_trials=6, runs_dir=tmp_path, progress=False, trial_runner=Runner())
    done = trials(study_file, tmp_path, TrialState.COMPLETE)
    covered = {t.params["act.family"]: t.params for t in done if "cover_family" in t.user_attrs}
    assert covered["elu"]["act.elu.alpha"] == pytest.approx(1.0)
    assert covered["leaky_relu"]["act.leaky_relu.negative_slope"] == pytest.approx(0.01)
    assert sum("cover_family" in t.user_attrs for t in trials(study_file, tmp_path)) == 4  # once in the study's life
    assert "never completed" not in study_status(study_file, runs_dir=tmp_path)


def test_cover_families_off_leaves_the_sampler_alone(tmp_path):
    study_file = load_study_file(write_study(tmp_path, "nocover", families="[relu, silu, gelu]", trials=1,
                                             budget=", cover_families: false"))
    run_study(study_file, runs_dir=tmp_path, progress=False, trial_runner=Runner())
    assert not any("cover_family" in t.user_attrs for t in trials(study_file, tmp_path))


def test_without_a_terminal_each_trial_and_with_verbose_each_epoch_is_a_line(tmp_path, capsys):
    study_file = load_study_file(write_study(tmp_path, "lines", families="[relu, silu]", trials=3,
                                             extra="baselines: [relu]\n"))
    run_study(study_file, runs_dir=tmp_path, progress=True, verbose=True, trial_runner=Runner(explode=("silu",)))
    lines = capsys.readouterr().err.splitlines()
    finished = [line for line in lines if re.match(r"lines: trial \d+ (complete|pruned|failed): ", line)]
    assert len(finished) >= 3
    assert finished[0].startswith("lines: trial 0 complete: val_accuracy=0.7 (relu; lr=0.1)")
    assert finished[0].endswith("1/3 finished, best 0.7")
    assert any(line.startswith("lines: trial 1 failed: diverged: loss 1e+27 is above 10 x") and "(silu; lr=" in line
               for line in finished)
    epochs = [line for line in lines if re.match(r"lines: trial \d+ epoch ", line)]
    assert epochs[:2] == ["lines: trial 0 epoch 1/2: val_accuracy 0.6, train_loss 1",
                          "lines: trial 0 epoch 2/2: val_accuracy 0.7, train_loss 0.5"]
    assert len(epochs) == 2 * 3 + 1 * (len(finished) - 3)  # every epoch of every trial, once
    assert lines[-1].startswith("lines: 3/3 finished")
    (diverged,) = [t for t in trials(study_file, tmp_path, TrialState.FAIL) if t.number == 1]
    assert diverged.user_attrs["result"]["history"] == [{"epoch": 1, "val_accuracy": 0.6, "train_loss": 1.0}]
