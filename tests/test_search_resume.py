"""Study bookkeeping for resume, without Ray: interrupted trials, baselines once, re-seeded sampler, same objectives."""

from __future__ import annotations

import dataclasses
import signal
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from actsearch.errors import ConfigError
from actsearch.study.resume import enqueue_baselines
from actsearch.study import Objective
from kill_points import STEPS
from search_fixtures import load_yaml_study, prepare

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture
def study_file(tmp_path):
    return load_yaml_study(
        tmp_path,
        "resume",
        """\
        task: {dataset: digits, network: smallcnn, epochs: 2}
        space:
          families: {relu: {}, silu: {}}
          train: {lr: {low: 0.01, high: 0.3, log: true}}
        sampler: {name: random}
        seed: 5
        baselines: [{family: relu}, {name: fast_silu, family: silu, train: {lr: 0.2}}]
        """,
    )


def test_first_preparation_records_the_study_and_enqueues_baselines(study_file, tmp_path):
    study, recovered = prepare(study_file, tmp_path)
    assert recovered == []
    assert study.user_attrs["actsearch"]["objectives"] == [{"name": "val_accuracy", "direction": "maximize"}]
    assert study.user_attrs["actsearch"]["task"]["network"] == "smallcnn"
    assert study.user_attrs["baselines_enqueued"] is True
    waiting = study.get_trials(states=(TrialState.WAITING,))
    assert [t.user_attrs for t in waiting] == [{"baseline": "relu", "attempt": 1},
                                                {"baseline": "fast_silu", "attempt": 1}]
    assert waiting[1].system_attrs["fixed_params"] == {"act.family": "silu", "train.lr": 0.2}


def test_interrupted_trials_fail_and_come_back_once(study_file, tmp_path):
    study, _ = prepare(study_file, tmp_path)
    done = study.ask()
    study_file.space.suggest(done)
    study.tell(done, 0.5)
    killed = study.ask()  # the second baseline, left RUNNING by a killed driver
    study_file.space.suggest(killed)

    study, recovered = prepare(study_file, tmp_path)
    assert recovered == [killed.number]
    assert study.trials[killed.number].state == TrialState.FAIL
    assert study.trials[killed.number].user_attrs["fail_reason"] == "interrupted"
    (retry,) = study.get_trials(states=(TrialState.WAITING,))
    assert retry.user_attrs == {"attempt": 2, "retry_of": killed.number, "baseline": "fast_silu"}
    assert retry.system_attrs["fixed_params"] == study.trials[killed.number].params
    assert study.trials[done.number].state == TrialState.COMPLETE and study.trials[done.number].value == 0.5

    study, recovered = prepare(study_file, tmp_path)  # nothing more to recover, nothing enqueued twice
    assert recovered == [] and len(study.get_trials(states=(TrialState.WAITING,))) == 1


def test_baselines_are_not_enqueued_twice_when_the_flag_was_never_written(study_file, tmp_path):
    study, _ = prepare(study_file, tmp_path)
    study.set_user_attr("baselines_enqueued", False)  # as if killed between enqueueing and the flag
    assert enqueue_baselines(study, study_file) == []
    assert len(study.trials) == 2


def test_resumed_sampler_does_not_repeat_the_first_runs_proposals(study_file, tmp_path):
    plain = dataclasses.replace(study_file, baselines=[])

    def first_sampled_lrs(study, count):
        lrs = []
        for _ in range(count):
            trial = study.ask()
            lrs.append(plain.space.suggest(trial).train["lr"])
            study.tell(trial, 0.0)
        return lrs

    study, _ = prepare(plain, tmp_path)
    first = first_sampled_lrs(study, 3)
    study, _ = prepare(plain, tmp_path)
    assert not set(first_sampled_lrs(study, 3)) & set(first)


def test_changed_objectives_are_a_config_error(study_file, tmp_path):
    prepare(study_file, tmp_path)
    changed = dataclasses.replace(study_file, objectives=[Objective(name="latency")])
    with pytest.raises(ConfigError, match=r"created with objectives \[\('val_accuracy', 'maximize'\)\].*allowed: the "
                                          "same objectives, or a new study `name:`"):
        prepare(changed, tmp_path)


PREPARE_THEN_DIE = """
import sys
sys.path.insert(0, {tests!r})
from kill_points import install
from actsearch.study import load_study_file
from search_fixtures import prepare

install(sys.argv[3])
prepare(load_study_file(sys.argv[1]), sys.argv[2])
"""


def finish_every_queued_trial(study, study_file):
    """Run what a driver would run: every queued trial, each told a value."""
    while study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
        trial = study.ask()
        study_file.space.suggest(trial)
        study.tell(trial, 0.5)


@pytest.mark.parametrize("step", STEPS)
def test_recovery_killed_at_each_step_still_runs_every_interrupted_configuration_once(study_file, tmp_path, step):
    study, _ = prepare(study_file, tmp_path)
    interrupted = {}
    for _ in range(2):  # both baselines, left RUNNING by a killed driver
        trial = study.ask()
        study_file.space.suggest(trial)
        interrupted[trial.number] = trial.params
    script = tmp_path / "prepare_then_die.py"
    script.write_text(PREPARE_THEN_DIE.format(tests=str(Path(__file__).parent)))
    killed = subprocess.run([sys.executable, str(script), str(study_file.path), str(tmp_path), step])
    assert killed.returncode == -signal.SIGKILL  # the recovery died right after its first `step`

    study, _ = prepare(study_file, tmp_path)
    finish_every_queued_trial(study, study_file)
    complete = study.get_trials(states=(TrialState.COMPLETE,))
    assert sorted(t.user_attrs["baseline"] for t in complete) == ["fast_silu", "relu"]
    for number, params in interrupted.items():
        assert study.trials[number].state == TrialState.FAIL
        (retry,) = [t for t in study.trials if t.user_attrs.get("retry_of") == number]
        assert retry.params == params and retry.state == TrialState.COMPLETE


def test_a_changed_space_is_refused_before_anything_is_written(study_file, tmp_path):
    study, _ = prepare(study_file, tmp_path)
    trial = study.ask()
    study_file.space.suggest(trial)
    study.tell(trial, 0.5)
    journal = tmp_path / "runs" / "resume" / "journal.log"
    size = journal.stat().st_size
    (tmp_path / "changed").mkdir()
    changed = load_yaml_study(
        tmp_path / "changed",
        "resume",
        """\
        task: {dataset: digits, network: smallcnn, epochs: 2}
        space:
          families: {relu: {}, silu: {}, gelu: {}}
          train: {lr: {choices: [0.01, 0.1]}}
        baselines: [{family: relu}]
        """,
    )
    with pytest.raises(ConfigError) as raised:
        prepare(changed, tmp_path)
    message = str(raised.value)
    assert "recorded its trials with another search space" in message
    assert "act.family (recorded choices ['relu', 'silu'], now choices ['relu', 'silu', 'gelu'])" in message
    assert "train.lr (recorded float range [0.01, 0.3, log], now choices [0.01, 0.1])" in message
    assert "a new study `name:` (e.g. 'resume-v2')" in message
    assert journal.stat().st_size == size
