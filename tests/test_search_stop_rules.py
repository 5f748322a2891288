"""budget.patience and budget.target: judged on the finished trials, honoured by a run and by its resume."""

from __future__ import annotations

import os
import subprocess
import sys

import optuna
import pytest
import ray

from actsearch.search import run_study
from actsearch.study import Budget, StudyFileError
from actsearch.study.stop_rules import StopRules
from search_fixtures import load_yaml_study, prepare

ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
optuna.logging.set_verbosity(optuna.logging.WARNING)


def feed(rules: StopRules, values: list) -> list:
    """Observe each entry (a list of values, or None for a pruned trial); the reason after each."""
    reasons = []
    for number, entry in enumerate(values):
        rules.observe_values(number, entry)
        reasons.append(rules.reason)
    return reasons


def test_patience_counts_finished_trials_since_the_last_improvement():
    reasons = feed(StopRules(Budget(patience=3), ["maximize"]), [[0.5], [0.7], None, [0.7], [0.6]])
    assert reasons[:4] == [None] * 4  # an equal value is no improvement; a pruned trial counts as finished
    assert reasons[4] == "no improvement in 3 finished trials (patience 3)"
    minimizing = feed(StopRules(Budget(patience=2), ["minimize"]), [[3.0], [2.0], [1.0], [1.5], [1.2]])
    assert minimizing[-1] and minimizing[-2] is None


def test_patience_with_several_objectives_counts_trials_that_do_not_enlarge_the_pareto_front():
    rules = StopRules(Budget(patience=2), ["maximize", "minimize"])
    reasons = feed(rules, [[0.8, 100.0], [0.7, 50.0], [0.6, 60.0], [0.9, 200.0], [0.5, 300.0], [0.85, 150.0]])
    # [0.7, 50] and [0.9, 200] enlarge the front; [0.6, 60] and [0.5, 300] are dominated; [0.85, 150] is not
    assert reasons == [None] * 6
    assert feed(rules, [[0.1, 900.0], [0.8, 100.0]]) == [None, "no improvement in 2 finished trials (patience 2)"]


def test_target_is_reached_in_the_objectives_direction():
    reached = feed(StopRules(Budget(target=0.93), ["maximize"]), [[0.9], [0.93]])
    assert reached == [None, "target 0.93 reached by trial 1"]
    assert feed(StopRules(Budget(target=0.2), ["minimize"]), [[0.3], [0.1]])[-1] == "target 0.2 reached by trial 1"
    several = StopRules(Budget(target=[0.9, 1000]), ["maximize", "minimize"])
    assert feed(several, [[0.95, 5000.0], [0.85, 500.0], [0.91, 900.0]])[-1] == "target 0.9, 1000 reached by trial 2"
    first_only = StopRules(Budget(target=0.9), ["maximize", "minimize"])
    assert feed(first_only, [[0.95, 1e9]])[-1] == "target 0.9, any reached by trial 0"


def test_study_file_checks_the_rules(tmp_path):
    body = """\
        task: {dataset: digits, network: smallcnn, epochs: 1}
        space: {families: [relu, silu]}
        objectives: [val_accuracy, parameters]
        budget: {patience: 0, target: [0.9]}
        """
    with pytest.raises(StudyFileError) as info:
        load_yaml_study(tmp_path, "rules", body)
    assert "budget.patience: input should be greater than or equal to 1" in str(info.value)
    body = body.replace("patience: 0", "patience: 3")
    with pytest.raises(StudyFileError, match=r"budget.target: one value \(or null\) per objective: 2 objectives"):
        load_yaml_study(tmp_path, "rules", body)


# -- on a local Ray ------------------------------------------------------------------------------------------


RAY_CPUS = 2


def steady_runner(task, config, on_epoch):
    """Every trial scores the same: the first is the best there will be."""
    return {"val_accuracy": 0.5, "epochs_completed": 1, "history": []}


def excellent_runner(task, config, on_epoch):
    return {"val_accuracy": 0.97, "epochs_completed": 1, "history": []}


def study_with(tmp_path, name, budget):
    return load_yaml_study(tmp_path, name, f"""\
        task: {{dataset: digits, network: smallcnn, epochs: 1}}
        space: {{families: [relu, silu], train: {{lr: {{low: 0.01, high: 0.3}}}}}}
        pruner: none
        budget: {budget}
        execution: {{workers: 1, cpus_per_trial: 1, gpus_per_trial: 0}}
        """)


def test_a_run_stops_at_its_patience_and_its_resume_does_not_start_again(local_ray, tmp_path):
    study_file = study_with(tmp_path, "patient", "{trials: 20, patience: 3}")
    summary = run_study(study_file, runs_dir=tmp_path, progress=False, trial_runner=steady_runner)
    # trial 3 met the rule; its worker already had trial 4 (trials are told after the next dispatch)
    assert summary.finished == 5 and summary.stopped == "no improvement in 3 finished trials (patience 3)"
    again = run_study(study_file, runs_dir=tmp_path, progress=False, trial_runner=steady_runner)
    assert again.finished == 5 and again.stopped == summary.stopped
    study, _ = prepare(study_file, tmp_path)
    assert len(study.trials) == 5


def test_a_run_stops_when_its_target_is_reached(local_ray, tmp_path):
    study_file = study_with(tmp_path, "aimed", "{trials: 20, target: 0.93}")
    summary = run_study(study_file, runs_dir=tmp_path, progress=False, trial_runner=excellent_runner)
    assert (summary.finished, summary.stopped) == (2, "target 0.93 reached by trial 0")  # + the one in flight
    assert "stopped: target 0.93 reached by trial 0" in str(summary)


def test_the_command_line_exits_0_when_a_stop_rule_ends_the_run(tmp_path):
    study_file = study_with(tmp_path, "cli-target", "{trials: 20, target: 0.0}")
    done = subprocess.run([sys.executable, "-m", "actsearch.cli", "-q", "run", str(study_file.path), "--runs-dir",
                           str(tmp_path)], capture_output=True, text=True, timeout=300,
                          env={key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "stopped: target 0 reached by trial 0" in done.stderr
