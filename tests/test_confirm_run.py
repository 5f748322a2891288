"""The confirm stage end to end on a local Ray: counts, pairing, confirm.json, status, report and export;
SIGKILL and resume; a dead worker and a diverged run; real training detects a crippled configuration.

One Ray session is shared by the module. Most tests use a fake runner (shipped to the workers by value)
whose proxy score grows with the learning rate and whose test accuracy falls with it, so the proxy's winner
and the confirmed winner differ.
"""

from __future__ import annotations

import json
import math
import os
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

from actsearch.cli import main
from actsearch.report import study_status, write_report
from actsearch.search import run_confirm, run_study
from actsearch.study import (
    confirm_summary_of,
    export_best,
    load_study,
    load_study_file,
    open_storage,
    run_directory,
)
from actsearch.trainers import DivergenceError

ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
optuna.logging.set_verbosity(optuna.logging.WARNING)

LR_LOW, LR_HIGH = 0.01, 0.3


pytestmark = pytest.mark.usefixtures("local_ray")


def score(lr: float) -> float:
    return (math.log(lr) - math.log(LR_LOW)) / (math.log(LR_HIGH) - math.log(LR_LOW))


class Runner:
    """Proxy (validation) score ``score(lr)``; test accuracy ``0.9 - 0.5 * score(lr)`` plus a shift per seed and
    a little noise; the task it received travels back in the result. Optionally sleeps, dies once, or diverges
    on a family."""

    def __init__(self, *, epoch_s: float = 0.0, crash_marker: str | None = None, diverge: str | None = None):
        self.epoch_s, self.crash_marker, self.diverge = epoch_s, crash_marker, diverge

    def __call__(self, task, config, on_epoch):
        if self.crash_marker and not os.path.exists(self.crash_marker):
            Path(self.crash_marker).touch()
            os._exit(1)
        for epoch in range(1, task.epochs + 1):
            if self.diverge in config.families():
                raise DivergenceError("nan", epoch=epoch)
            time.sleep(self.epoch_s)
            on_epoch(epoch, {"epoch": epoch, "val_accuracy": score(config.train["lr"]), "train_loss": 1.0})
        proxy = score(config.train["lr"])
        noise = 0.002 * math.sin(7.0 * task.seed + 100.0 * config.train["lr"])  # runs are not exact shifts
        return {"val_accuracy": proxy, "test_accuracy": 0.9 - 0.5 * proxy + 0.01 * (task.seed % 7) + noise,
                "epochs_completed": task.epochs, "history": [], "task": task.to_dict()}


def write_study(folder: Path, name: str, *, trials: int = 5, seeds: int = 3, extra: str = "") -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: {name}
        task: {{dataset: digits, network: smallcnn, epochs: 2, train_subset: 256, batch_size: 64}}
        space:
          families: {{relu: {{}}, silu: {{}}}}
          train: {{lr: {{low: {LR_LOW}, high: {LR_HIGH}, log: true}}}}
        sampler: random
        pruner: none
        budget: {{trials: {trials}, max_retries: 2}}
        execution: {{workers: 2, cpus_per_trial: 1, gpus_per_trial: 0}}
        seed: 3
        baselines: [{{family: relu, train: {{lr: 0.05}}}}]
        confirm: {{top: 2, seeds: {seeds}, task: {{epochs: 3}}}}
        """) + textwrap.dedent(extra))
    return path


def confirm_trials(study_file, runs_dir) -> list:
    storage, _ = open_storage(None, study_file.name, runs_dir=runs_dir, create=False)
    return optuna.load_study(study_name=f"{study_file.name}.confirm", storage=storage).get_trials(deepcopy=False)


def searched(tmp_path: Path, name: str, **options):
    study_file = load_study_file(write_study(tmp_path, name, **options))
    run_study(study_file, runs_dir=tmp_path, progress=False, trial_runner=Runner())
    return study_file


def test_two_finalists_and_a_baseline_on_three_paired_seeds(tmp_path, capsys):
    study_file = searched(tmp_path, "pair")
    run = run_confirm(study_file, runs_dir=tmp_path, progress=True, trial_runner=Runner())
    lines = [line for line in capsys.readouterr().err.splitlines() if "val_accuracy=" in line]
    assert len(lines) == 9 and all(" seed " in line and "(test split)" in line for line in lines)  # no TTY: a line a run
    trials = confirm_trials(study_file, tmp_path)
    assert len(trials) == 9 and all(t.state == TrialState.COMPLETE for t in trials)
    jobs = sorted((t.user_attrs["config_id"], t.user_attrs["seed"]) for t in trials)
    assert len(set(jobs)) == 9 and {seed for _, seed in jobs} == {3, 4, 5}
    for seed in (3, 4, 5):
        tasks = [t.user_attrs["result"]["task"] for t in trials if t.user_attrs["seed"] == seed]
        assert len(tasks) == 3 and all(task == tasks[0] for task in tasks)  # paired: one task per seed
        assert tasks[0] == {**study_file.task.replace(epochs=3).to_dict(), "seed": seed}
    assert all(t.values[0] == t.user_attrs["result"]["test_accuracy"] for t in trials)  # scored on test

    saved = json.loads((run_directory("pair", tmp_path) / "confirm.json").read_text())
    assert saved == json.loads(json.dumps(run.summary))
    assert len(saved["finalists"]) == 2 and len(saved["baselines"]) == 1 and saved["finished"]
    for entry in saved["finalists"] + saved["baselines"]:
        fields = {"label", "config", "proxy_score", "seeds", "values", "mean", "std", "ci95", "vs_baselines"}
        assert fields <= set(entry)
        assert entry["seeds"] == [3, 4, 5] and len(entry["values"]["val_accuracy"]) == 3
    comparison = saved["finalists"][0]["vs_baselines"][0]
    assert {"baseline", "diff", "ci95", "p_t", "p_wilcoxon", "p_holm"} <= set(comparison)
    assert comparison["baseline"] == "relu"
    assert {"spearman", "kendall", "n"} <= set(saved["fidelity"]) and saved["fidelity"]["n"] == 3
    assert isinstance(saved["verdict"], str) and saved["verdict"]
    proxy_order = [entry["proxy_score"] for entry in saved["finalists"]]
    assert proxy_order == sorted(proxy_order, reverse=True)

    status = study_status(study_file, runs_dir=tmp_path)
    assert "confirm on test (val_accuracy), seeds [3, 4, 5]: 9/9 runs complete" in status
    assert "relu [baseline]" in status and "verdict: " in status
    paths = write_report(load_study(study_file, runs_dir=tmp_path), tmp_path / "report",
                         confirm=confirm_summary_of(study_file, runs_dir=tmp_path))
    assert "confirm" in paths.figures and paths.figures["confirm"].stat().st_size > 0
    assert json.loads(paths.summary.read_text())["confirm"]["verdict"] == saved["verdict"]
    html = paths.html.read_text()
    assert '<section id="confirm">' in html and 'id="table-confirm"' in html

    again = run_confirm(study_file, runs_dir=tmp_path, progress=False, trial_runner=Runner())
    assert (again.complete, again.workers) == (0, 0) and len(confirm_trials(study_file, tmp_path)) == 9


def test_export_picks_the_confirmed_winner_and_pick_proxy_the_proxy_winner(tmp_path):
    study_file = searched(tmp_path, "pick")
    run_confirm(study_file, runs_dir=tmp_path, progress=False, trial_runner=Runner())
    summary = confirm_summary_of(study_file, runs_dir=tmp_path)
    entries = summary["finalists"] + summary["baselines"]
    confirmed = min(entries, key=lambda entry: entry["config"]["train"]["lr"])  # test accuracy falls with lr
    exported = json.loads(export_best(study_file, tmp_path / "best.json", runs_dir=tmp_path).read_text())
    assert exported["train"] == confirmed["config"]["train"] and exported["provenance"]["pick"] == "confirmed"
    assert exported["provenance"]["confirm"]["mean"] == confirmed["mean"]
    assert exported["provenance"]["confirm"]["verdict"] == summary["verdict"]
    proxy = json.loads(export_best(study_file, tmp_path / "proxy.json", pick="proxy", runs_dir=tmp_path).read_text())
    best = load_study(study_file, runs_dir=tmp_path).best_trial
    assert proxy["provenance"]["trial"] == best.number and "confirm" not in proxy["provenance"]
    assert proxy["train"] != exported["train"]


DRIVER_SCRIPT = """
import sys, time
from actsearch.search import run_confirm
from actsearch.study import load_study_file

def slow(task, config, on_epoch):
    time.sleep(0.6 * task.epochs)
    return {"val_accuracy": 0.5, "test_accuracy": config.train["lr"] + task.seed, "epochs_completed": task.epochs}

run_confirm(load_study_file(sys.argv[1]), runs_dir=sys.argv[2], progress=False, trial_runner=slow)
"""


def test_confirm_killed_then_resumed_runs_every_pair_exactly_once(tmp_path):
    study_file = searched(tmp_path, "kill")
    script = tmp_path / "driver.py"
    script.write_text(DRIVER_SCRIPT)
    logs = run_directory("kill", tmp_path) / "confirm" / "trials"
    driver = subprocess.Popen([sys.executable, str(script), str(study_file.path), str(tmp_path)],
                              start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not (logs.exists() and len(list(logs.glob("*.json"))) >= 2):
            assert driver.poll() is None, "the confirm driver ended before it could be killed"
            assert time.monotonic() < deadline, "the confirm driver finished no run in time"
            time.sleep(0.1)
    finally:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()

    before = confirm_trials(study_file, tmp_path)
    told = {t.number: t.values for t in before if t.state == TrialState.COMPLETE}
    interrupted = {t.number for t in before if t.state == TrialState.RUNNING}
    assert 2 <= len(told) < 9 and interrupted

    run = run_confirm(study_file, runs_dir=tmp_path, progress=False, trial_runner=Runner())
    assert sorted(run.recovered) == sorted(interrupted)
    trials = confirm_trials(study_file, tmp_path)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    jobs = [(t.user_attrs["config_id"], t.user_attrs["seed"]) for t in complete]
    assert len(jobs) == len(set(jobs)) == 9 == run.summary["runs"]["complete"]
    assert run.complete == 9 - len(told)
    assert {t.number: t.values for t in complete if t.number in told} == told
    for number in interrupted:
        assert trials[number].state == TrialState.FAIL and trials[number].user_attrs["fail_reason"] == "interrupted"
    assert len(trials) == 9 + len(interrupted)
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]


def test_dead_worker_is_retried_and_a_diverged_run_is_recorded_once(tmp_path):
    study_file = searched(tmp_path, "fail", seeds=2)
    runner = Runner(crash_marker=str(tmp_path / "crashed"), diverge="relu")
    run = run_confirm(study_file, workers=1, runs_dir=tmp_path, progress=False, trial_runner=runner)
    trials = confirm_trials(study_file, tmp_path)
    died = [t for t in trials if t.user_attrs.get("fail_kind") == "worker_died"]
    assert len(died) == 1 and run.retried == 1
    (retry,) = [t for t in trials if t.user_attrs.get("attempt") == 2]
    assert (retry.user_attrs["config_id"], retry.user_attrs["seed"]) == (died[0].user_attrs["config_id"],
                                                                          died[0].user_attrs["seed"])
    diverged = [t for t in trials if t.user_attrs.get("fail_kind") == "diverged"]
    entries = run.summary["finalists"] + run.summary["baselines"]
    relu = [entry for entry in entries if entry["config"]["plan"]["default"]["family"] == "relu"]
    assert relu and len(diverged) == 2 * len(relu)  # one failed run per seed, never re-run
    assert all(len(entry["failed"]) == 2 and entry["mean"] is None for entry in relu)
    assert run.summary["finished"]
    again = run_confirm(study_file, workers=1, runs_dir=tmp_path, progress=False, trial_runner=runner)
    assert again.complete == again.failed == again.workers == 0


def test_real_training_detects_a_crippled_configuration_and_not_an_identical_one(tmp_path, capsys):
    path = tmp_path / "real.yaml"
    path.write_text(textwrap.dedent("""\
        name: real
        task: {dataset: digits, network: smallcnn, epochs: 3, batch_size: 64}
        space:
          families: [relu]
          # chance_patience_epochs 0: the crippled runs must score (near chance), not fail as diverged
          train: {lr: {low: 1e-5, high: 0.3, log: true}, chance_patience_epochs: 0}
        execution: {workers: 2, cpus_per_trial: 1, gpus_per_trial: 0}
        baselines:
          - {name: good, family: relu, train: {lr: 0.1}}
          - {name: same, family: relu, train: {lr: 0.1}}
          - {name: crippled, family: relu, train: {lr: 1e-5}}
        confirm: {seeds: 3}
        """))
    assert main(["-q", "confirm", str(path), "--only-baselines", "--json", "--runs-dir", str(tmp_path)]) == 0
    summary = json.loads(capsys.readouterr().out)
    good, same, crippled = summary["baselines"]
    assert summary["finalists"] == [] and good["vs_baselines"] == []
    assert same["values"] == good["values"]  # same seed: same split, order and initialisation
    (vs_same,), (vs_crippled,) = same["vs_baselines"], crippled["vs_baselines"]
    assert vs_same["diff"] == 0.0 and vs_same["p_holm"] == 1.0
    assert vs_crippled["diff"] < -0.2 and vs_crippled["p_holm"] < 0.05
    assert summary["verdict"].startswith("crippled: -") and "points under good" in summary["verdict"]
    assert len(set(good["values"]["val_accuracy"])) > 1  # the seeds differ from each other
    status = study_status(load_study_file(path), runs_dir=tmp_path)
    assert status.startswith("study real: no search yet\nconfirm on test") and "crippled [baseline]" in status


def test_confirm_without_a_finished_trial_exits_2(tmp_path, capsys):
    path = write_study(tmp_path, "never")
    assert main(["confirm", str(path), "--runs-dir", str(tmp_path)]) == 2
    assert "has no finished trial to confirm; run the search first" in capsys.readouterr().err


def test_confirm_trains_a_family_from_the_study_files_imports(tmp_path, capsys):
    """The confirm workers import the study file's `imports:` before they decode a configuration."""
    (tmp_path / "confirm_family.py").write_text(textwrap.dedent("""\
        import torch
        from actsearch.activations import register_activation

        @register_activation("confirm_squared_relu")
        class ConfirmSquaredReLU(torch.nn.Module):
            def forward(self, x):
                return torch.relu(x) ** 2 / 2 + torch.relu(x) / 2
        """))
    path = tmp_path / "custom.yaml"
    path.write_text(textwrap.dedent("""\
        name: custom
        imports: [confirm_family.py]
        task: {dataset: digits, network: smallcnn, epochs: 1, train_subset: 256, batch_size: 64}
        space: {families: [relu, confirm_squared_relu]}
        execution: {workers: 1, cpus_per_trial: 1, gpus_per_trial: 0}
        baselines: [{family: relu}, {family: confirm_squared_relu}]
        confirm: {seeds: 2}
        """))
    assert main(["-q", "confirm", str(path), "--only-baselines", "--json", "--runs-dir", str(tmp_path)]) == 0
    summary = json.loads(capsys.readouterr().out)
    custom = next(entry for entry in summary["baselines"] if "confirm_squared_relu" in entry["label"])
    assert len(custom["values"]["val_accuracy"]) == 2 and summary["runs"]["failed"] == 0
