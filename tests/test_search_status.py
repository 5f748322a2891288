"""study_status: counts by state, best trials with decoded configurations, running trials, failures, retries."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState

from actsearch.errors import ConfigError
from actsearch.report import study_status
from actsearch.study import enqueue_retry, recover_interrupted, run_directory, write_running_log
from search_fixtures import ask_with_config, load_yaml_study, prepare

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture
def study_file(tmp_path):
    return load_yaml_study(
        tmp_path,
        "status",
        """\
        task: {dataset: digits, network: smallcnn, epochs: 2}
        space:
          families: {relu: {}, silu: {}}
          placement: per_stage
          train: {lr: {low: 0.01, high: 0.3, log: true}}
        sampler: {name: random}
        budget: {trials: 8}
        baselines: [{family: relu, train: {lr: 0.1}}]
        """,
    )


def test_status_reports_counts_best_running_and_failures(tmp_path, study_file):
    study, _ = prepare(study_file, tmp_path)
    where = str(tmp_path / "runs" / "status" / "journal.log")
    study.tell(ask_with_config(study, study_file), 0.75)  # the baseline
    study.tell(ask_with_config(study, study_file), 0.5)
    diverged = ask_with_config(study, study_file)
    diverged.set_user_attr("fail_reason", "diverged: loss became nan at epoch 2")
    study.tell(diverged, state=TrialState.FAIL)
    died = ask_with_config(study, study_file)
    died.set_user_attr("fail_reason", "worker died: the actor died unexpectedly")
    enqueue_retry(study, study.tell(died, state=TrialState.FAIL))
    retry = ask_with_config(study, study_file)  # still running
    write_running_log(run_directory("status", tmp_path), retry.number, config=retry.user_attrs["config"],
                      history=[{"epoch": 1, "val_accuracy": 0.625, "train_loss": 1.25, "seconds": 3.0}])

    text = study_status(study_file, runs_dir=tmp_path)
    assert f"study status ({where})" in text
    assert "finished: 2/8; complete 2, pruned 0, fail 2, running 1, waiting 0" in text
    baseline = "stem: relu; stage1: relu; stage2: relu; stage3: relu; train: lr=0.1"
    assert f"  0: #0 val_accuracy=0.75 [baseline relu]: {baseline}" in text
    assert "  1: #1 val_accuracy=0.5" in text
    assert f"  #{retry.number}: " in text
    assert f"(attempt 2, retry of #{died.number}); epoch 1/2: val_accuracy 0.625, train_loss 1.25\n" in text
    assert f"  #{diverged.number}: diverged: loss became nan at epoch 2" in text
    assert f"  #{died.number}: worker died: the actor died unexpectedly" in text

    recover_interrupted(study)
    assert f"  #{retry.number}: interrupted (attempt 2, retry of #{died.number})" in study_status(
        study_file, runs_dir=tmp_path
    )


def test_status_of_a_study_never_run_says_so(tmp_path, study_file):
    with pytest.raises(ConfigError, match="no study journal at .*runs/status/journal.log; run the study first"):
        study_status(study_file, runs_dir=tmp_path)


def test_status_lists_the_families_never_completed(tmp_path):
    study_file = load_yaml_study(
        tmp_path,
        "families",
        """\
        task: {dataset: digits, network: smallcnn, epochs: 2}
        space:
          families: {relu: {}, la_silu: {}, la_hardsilu: {}, anact: {base: {choices: [silu, relu]}}, apalu: {}}
        budget: {trials: 3}
        baselines: [la_hardsilu]
        """,
    )
    study, _ = prepare(study_file, tmp_path)
    asked = [ask_with_config(study, study_file) for _ in range(3)]
    assert [trial.params["act.family"] for trial in asked] == ["la_hardsilu", "relu", "la_silu"]
    assert asked[1].user_attrs.get("families") == ["relu"]
    study.tell(asked[0], 0.5)
    study.tell(asked[1], state=TrialState.PRUNED)
    study.tell(asked[2], 0.25)
    assert "families never completed: relu, anact, apalu\n" in study_status(study_file, runs_dir=tmp_path)
    waiting = study.get_trials(deepcopy=False, states=(TrialState.WAITING,))
    assert [trial.user_attrs["cover_family"] for trial in waiting] == ["anact", "apalu"]
