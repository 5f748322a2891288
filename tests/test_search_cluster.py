"""Runs on a cluster started as Ray users start one: `ray start --head`, then `RAY_ADDRESS` or nothing at all.

The head (2 CPUs and 1 logical GPU) is started by this module and stopped by it (see ``ray_head.py``); the
tests skip, saying why, only when Ray cannot start here. Most runs replace the trainer with a fake runner;
the custom-family run trains for real, through the command line, as a user would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import optuna
import pytest
import ray
from optuna.trial import TrialState

from actsearch.search import plan_slots
from actsearch.study import load_study_file, open_storage
from ray_head import start_head

ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture(scope="module")
def head():
    cluster = start_head(cpus=2, gpus=1)
    yield cluster
    cluster.stop()


def gpu_runner(task, config, on_epoch):
    """A trial that records which GPUs Ray gave its worker."""
    on_epoch(1, {"val_accuracy": 0.5})
    return {"val_accuracy": 0.5, "epochs_completed": 1, "history": [], "gpu_ids": list(ray.get_gpu_ids())}


DRIVER = """
import json, sys
sys.path.insert(0, {tests!r})
import ray
from test_search_cluster import gpu_runner
from actsearch.search import run_study
from actsearch.study import load_study_file
summary = run_study(load_study_file({path!r}), runs_dir={runs_dir!r}, progress=False, trial_runner=gpu_runner)
print(json.dumps({{"finished": summary.finished, "failed": summary.failed, "workers": summary.workers,
                  "ray_left_initialized": ray.is_initialized()}}))
"""


def drive(path: Path, runs_dir: Path, environment: dict[str, str]) -> dict:
    """run_study in a fresh process, as a user's driver runs: Ray reads its address and token at start."""
    script = DRIVER.format(tests=str(Path(__file__).parent), path=str(path), runs_dir=str(runs_dir))
    env = {key: value for key, value in os.environ.items() if key not in ("RAY_ADDRESS", "RAY_TMPDIR")}
    done = subprocess.run([sys.executable, "-c", script], env={**env, **environment}, capture_output=True,
                          text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def write_study(folder: Path, name: str, *, execution: str, trials: int = 3, families: str = "[relu, silu]",
                header: str = "") -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(header + textwrap.dedent(f"""\
        name: {name}
        task: {{dataset: digits, network: smallcnn, epochs: 1, train_subset: 256, batch_size: 64, device: cpu}}
        space: {{families: {families}}}
        pruner: none
        budget: {{trials: {trials}}}
        execution: {execution}
        """))
    return path


def trials_of(name: str, runs_dir: Path) -> list:
    """The study's trials, read without loading its study file (and so without importing its modules here)."""
    storage, _ = open_storage(None, name, runs_dir=runs_dir, create=False)
    return optuna.load_study(study_name=name, storage=storage).trials


def test_ray_address_joins_the_cluster_without_sizing_it(head, tmp_path):
    path = write_study(tmp_path, "by-address", execution="{gpus_per_trial: 0}", trials=4)
    summary = drive(path, tmp_path, {"RAY_ADDRESS": head.address, **head.auth})
    assert (summary["finished"], summary["failed"]) == (4, 0)
    assert summary["workers"] == 2  # the head's 2 CPUs, not this machine's count
    assert not summary["ray_left_initialized"]  # the driver's connection is closed; the cluster stays up
    assert head.process.poll() is None


def test_cluster_started_on_this_machine_is_joined_without_an_address(head, tmp_path):
    # RAY_TMPDIR: where this head's `ray start` left its address (by default /tmp/ray)
    path = write_study(tmp_path, "local-head", execution="{gpus_per_trial: 0, workers: 2}")
    summary = drive(path, tmp_path, {"RAY_TMPDIR": head.temp_root, **head.auth})
    assert (summary["finished"], summary["failed"], summary["workers"]) == (3, 0, 2)


def test_gpus_per_trial_auto_is_decided_by_the_cluster(head, tmp_path):
    path = write_study(tmp_path, "auto-gpu", execution="{gpus_per_trial: auto}", trials=2)
    assert load_study_file(path).execution.gpus_per_trial == "auto"
    summary = drive(path, tmp_path, {"RAY_ADDRESS": head.address, **head.auth})
    assert summary["workers"] == 1  # one whole GPU per trial, although the head has 2 CPUs
    results = [trial.user_attrs["result"] for trial in trials_of(path.stem, tmp_path)]
    assert [len(result["gpu_ids"]) for result in results] == [1, 1]


def test_gpus_per_trial_auto_follows_the_cluster_not_this_machine():
    assert plan_slots(None, "auto", 1, cpus=16, gpus=0) == plan_slots(None, 0.0, 1, cpus=16, gpus=0)
    on_gpus = plan_slots(None, "auto", 1, cpus=16, gpus=2)
    assert (on_gpus.count, on_gpus.num_gpus) == (2, 1.0)


FAMILY_MODULE = '''
import torch
from torch import nn
from actsearch.activations import register_activation


@register_activation("squared_relu")
class SquaredReLU(nn.Module):
    def __init__(self, scale: float = 1.0):
        super().__init__()
        self.scale = scale

    def forward(self, x):
        return self.scale * torch.relu(x) ** 2
'''


def test_custom_family_in_a_file_next_to_the_study_is_searched_end_to_end(head, tmp_path):
    (tmp_path / "my_families.py").write_text(FAMILY_MODULE)
    path = write_study(tmp_path, "custom", execution="{gpus_per_trial: 0}", trials=2,
                       families="{squared_relu: {scale: {low: 0.5, high: 1.0}}}", header="imports: [my_families.py]\n")
    env = {**os.environ, "RAY_ADDRESS": head.address, **head.auth}
    cli = [sys.executable, "-m", "actsearch.cli"]
    validated = subprocess.run([*cli, "validate", str(path)], env=env, capture_output=True, text=True, cwd="/")
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert "squared_relu" in validated.stdout
    ran = subprocess.run([*cli, "run", str(path), "--runs-dir", str(tmp_path)], env=env, capture_output=True,
                         text=True, cwd="/", timeout=240)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    complete = [trial for trial in trials_of(path.stem, tmp_path) if trial.state == TrialState.COMPLETE]
    assert len(complete) == 2
    assert {trial.user_attrs["config"]["plan"]["default"]["family"] for trial in complete} == {"squared_relu"}
    assert all(0.5 <= trial.params["act.squared_relu.scale"] <= 1.0 for trial in complete)
    assert all(trial.user_attrs["result"]["epochs_completed"] == 1 for trial in complete)
