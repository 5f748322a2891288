"""budget.trial_timeout: fixed limits, and ``auto`` from the slowest completed baseline (else coverage trial)."""

from __future__ import annotations

import datetime

import optuna
import pytest
from optuna.trial import FrozenTrial, TrialState

from actsearch.search.timeouts import AUTO_MINIMUM_S, TrialTimeLimit
from actsearch.study import Budget
from actsearch.study.studyfile import StudyFileError, load_study_file

optuna.logging.set_verbosity(optuna.logging.WARNING)
START = datetime.datetime(2026, 1, 1)


def add_trial(study: optuna.Study, seconds: float, state=TrialState.COMPLETE, **user_attrs) -> None:
    study.add_trial(FrozenTrial(
        number=0, trial_id=0, state=state, value=0.5 if state == TrialState.COMPLETE else None, values=None,
        datetime_start=START, datetime_complete=START + datetime.timedelta(seconds=seconds), params={},
        distributions={}, user_attrs=user_attrs, system_attrs={}, intermediate_values={}))


def test_auto_is_five_times_the_slowest_completed_baseline_and_never_under_the_floor():
    study = optuna.create_study()
    limit = TrialTimeLimit("auto")
    limit.update(study)
    assert limit.seconds is None  # nothing to measure yet: no limit
    add_trial(study, 5.0, cover_family="apalu")
    limit.update(study)
    assert limit.seconds == AUTO_MINIMUM_S  # 5 x 5 s is under the floor
    add_trial(study, 30.0, baseline="relu")
    add_trial(study, 40.0, baseline="silu")
    add_trial(study, 900.0, baseline="gelu", state=TrialState.FAIL)  # failed baselines do not count
    add_trial(study, 500.0)  # neither a baseline nor a coverage trial
    limit.update(study)
    assert limit.seconds == 200.0
    assert limit.overdue(started=0.0, now=201.0) and not limit.overdue(started=0.0, now=199.0)
    assert "5 x the slowest baseline's 40 s" in limit.describe()


def test_fixed_and_disabled_limits_ignore_the_study():
    study = optuna.create_study()
    add_trial(study, 30.0, baseline="relu")
    fixed, off = TrialTimeLimit(600.0), TrialTimeLimit(None)
    fixed.update(study), off.update(study)
    assert (fixed.seconds, off.seconds) == (600.0, None) and fixed.describe() == "budget.trial_timeout 600 s"


def test_study_file_accepts_durations_auto_and_null_and_says_what_is_allowed(tmp_path):
    assert Budget.model_validate({"trial_timeout": "10m"}).trial_timeout_s == 600.0
    assert Budget.model_validate({"trial_timeout": None}).trial_timeout_s is None
    assert Budget().trial_timeout_s == "auto" and Budget().cover_families is True
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\nbudget: {trial_timeout: soon, cover_families: maybe}\n")
    with pytest.raises(StudyFileError) as info:
        load_study_file(path)
    text = str(info.value)
    assert "budget.trial_timeout" in text and "'auto'" in text and "budget.cover_families" in text
