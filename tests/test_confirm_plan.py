"""The confirm stage without Ray: the `confirm:` section, finalist selection (distinct configurations, the
Pareto set knee first), the plan fixed at start, and which runs are pending."""

from __future__ import annotations

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from actsearch.errors import ConfigError
from actsearch.study import (
    StudyFileError,
    build_plan,
    config_label,
    fix_plan,
    open_confirm_study,
    open_storage,
    pending_runs,
)
from search_fixtures import load_yaml_study

optuna.logging.set_verbosity(optuna.logging.WARNING)

BODY = """\
task: {dataset: digits, network: smallcnn, epochs: 2}
space:
  families: {relu: {}, silu: {}}
  train: {lr: {low: 0.001, high: 0.3, log: true}}
seed: 7
baselines: [{family: relu, train: {lr: 0.1}}]
"""


def config(family: str, lr: float) -> dict:
    return {"plan": {"default": {"family": family, "params": {}}, "rules": []}, "train": {"lr": lr}}


def search_with(values: list[tuple[float, dict]], directions=("maximize",), baseline: int | None = None):
    study = optuna.create_study(directions=list(directions))
    for index, (value, trial_config) in enumerate(values):
        attrs = {"config": trial_config} | ({"baseline": "relu"} if index == baseline else {})
        study.add_trial(create_trial(values=value if isinstance(value, list) else [value], user_attrs=attrs))
    return study


def test_confirm_section_defaults_and_overrides(tmp_path):
    study_file = load_yaml_study(tmp_path, "plan", BODY + "confirm: {top: 2, seeds: [3, 5], task: {epochs: 4}}\n")
    assert (study_file.confirm.top, study_file.confirm.seeds, study_file.confirm.evaluate) == (2, [3, 5], "test")
    plan = build_plan(study_file, search_with([(0.9, config("silu", 0.05))]))
    assert plan.seeds == [3, 5] and plan.task["epochs"] == 4
    assert plan.run_task(5) == {**plan.task, "seed": 5}
    assert build_plan(study_file, search_with([(0.9, config("silu", 0.05))]), seed_count=3).seeds == [7, 8, 9]
    default = load_yaml_study(tmp_path, "default", BODY)
    assert default.confirm.seed_list(default.seed) == [7, 8, 9, 10, 11]


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("{seeds: 0}", "confirm.seeds: a seed count must be >= 1"),
        ("{seeds: [1, 1]}", "confirm.seeds: a list of seeds must be non-empty, distinct and >= 0"),
        ("{task: {epochs: 0}}", "confirm.task.epochs: input should be greater than or equal to 1"),
        ("{task: {epoch: 3}}", "confirm.task.epoch: unknown key 'epoch'"),
        ("{task: {seed: 3}}", "remove confirm.task.seed"),
        ("{evaluate: train}", "confirm.evaluate: input should be 'test' or 'val'"),
        ("{top: 0}", "confirm.top: input should be greater than or equal to 1"),
        ("{bogus: 1}", "confirm.bogus: unknown key 'bogus'"),
    ],
)
def test_invalid_confirm_section_is_reported_with_its_key(tmp_path, block, message):
    with pytest.raises(StudyFileError, match=message.replace("(", r"\(").replace("[", r"\[")):
        load_yaml_study(tmp_path, "bad", BODY + f"confirm: {block}\n")


def test_finalists_are_the_best_distinct_configurations_and_exclude_the_baselines(tmp_path):
    study_file = load_yaml_study(tmp_path, "plan", BODY + "confirm: {top: 2}\n")
    search = search_with(
        [(0.95, config("relu", 0.1)), (0.93, config("silu", 0.05)), (0.93, config("silu", 0.05)),
         (0.90, config("silu", 0.2)), (0.80, config("relu", 0.01))],
        baseline=0,
    )
    plan = build_plan(study_file, search)
    finalists = [c for c in plan.candidates if c.kind == "finalist"]
    assert [(c.trial, c.proxy_score) for c in finalists] == [(1, 0.93), (3, 0.90)]  # trial 2 repeats trial 1
    (baseline,) = [c for c in plan.candidates if c.kind == "baseline"]
    assert (baseline.label, baseline.trial, baseline.proxy_score) == ("relu", 0, 0.95)
    assert baseline.config == config("relu", 0.1)
    assert [c.label for c in finalists] == ["silu(lr=0.05)", "silu(lr=0.2)"]
    assert plan.jobs()[:3] == [("trial-1", 7), ("trial-3", 7), ("baseline-relu", 7)]  # seed-major


def test_several_objectives_confirm_the_pareto_set_knee_first(tmp_path):
    body = BODY.replace("seed: 7", "seed: 7\nobjectives: [val_accuracy, parameters]\npruner: none")
    study_file = load_yaml_study(tmp_path, "pareto", body)
    search = search_with(
        [([0.95, 900.0], config("relu", 0.1)), ([0.90, 300.0], config("silu", 0.05)),
         ([0.60, 100.0], config("silu", 0.2)), ([0.50, 950.0], config("relu", 0.01))],
        directions=("maximize", "minimize"),
    )
    assert [c.trial for c in build_plan(study_file, search, top=2).candidates if c.kind == "finalist"] == [1, 2]
    # knee (trial 1), then by val_accuracy: trial 0 would come next but is the relu baseline's configuration
    without_baseline = load_yaml_study(tmp_path, "pareto2", body.replace("lr: 0.1}}]", "lr: 0.2}}]"))
    plan = build_plan(without_baseline, search, top=2)
    assert [c.trial for c in plan.candidates if c.kind == "finalist"] == [1, 0]


def test_nothing_to_confirm_is_a_config_error(tmp_path):
    study_file = load_yaml_study(tmp_path, "empty", BODY)
    with pytest.raises(ConfigError, match="has no finished trial to confirm; run the search first"):
        build_plan(study_file, optuna.create_study(direction="maximize"))
    only = build_plan(study_file, None, only_baselines=True)
    assert [c.key for c in only.candidates] == ["baseline-relu"] and only.candidates[0].proxy_score is None
    no_baselines = load_yaml_study(tmp_path, "none", BODY.replace("baselines: [{family: relu, train: {lr: 0.1}}]", ""))
    with pytest.raises(ConfigError, match="has no baselines to confirm"):
        build_plan(no_baselines, None, only_baselines=True)


def test_the_plan_is_fixed_when_the_stage_starts(tmp_path):
    study_file = load_yaml_study(tmp_path, "fixed", BODY + "confirm: {top: 1, seeds: 2}\n")
    storage, _ = open_storage(None, "fixed", runs_dir=tmp_path)
    confirm_study = open_confirm_study(study_file, storage)
    first = fix_plan(confirm_study, build_plan(study_file, search_with([(0.9, config("silu", 0.05))])))
    better = search_with([(0.99, config("silu", 0.3)), (0.9, config("silu", 0.05))])
    again = fix_plan(confirm_study, build_plan(study_file, better))
    assert again == first  # the new best does not join a stage already started
    more = fix_plan(confirm_study, build_plan(study_file, better, seed_count=3))
    assert more.candidates == first.candidates and more.seeds == [7, 8, 9]
    recorded = optuna.load_study(study_name="fixed.confirm", storage=storage).user_attrs["confirm_plan"]
    assert recorded["seeds"] == [7, 8, 9]


def test_pending_runs_keep_finished_and_final_runs_and_retry_the_others(tmp_path):
    study_file = load_yaml_study(tmp_path, "pending", BODY + "confirm: {seeds: 2, baselines: false, top: 3}\n")
    search = search_with([(0.9, config("silu", 0.05)), (0.8, config("silu", 0.2)), (0.7, config("silu", 0.01))])
    plan = build_plan(study_file, search)
    study = optuna.create_study(direction="maximize")

    def run(key, seed, state=TrialState.COMPLETE, kind=None):
        attrs = {"config_id": key, "seed": seed} | ({"fail_kind": kind} if kind else {})
        study.add_trial(create_trial(state=state, value=0.5 if state == TrialState.COMPLETE else None,
                                     user_attrs=attrs))

    run("trial-0", 7)
    run("trial-0", 8, TrialState.FAIL, "diverged")  # the configuration's own failure: final
    run("trial-1", 7, TrialState.FAIL, "worker_died")
    run("trial-1", 7, TrialState.FAIL, "worker_died")
    run("trial-1", 8, TrialState.FAIL)  # interrupted: no kind, re-run
    for _ in range(3):
        run("trial-2", 7, TrialState.FAIL, "out_of_memory")  # retries used up with max_retries 2
    assert pending_runs(plan, study, max_retries=2) == [("trial-1", 7, 3), ("trial-1", 8, 2), ("trial-2", 8, 1)]
    assert ("trial-2", 7, 4) in pending_runs(plan, study, max_retries=3)


def test_config_label_reads_per_stage_plans():
    per_stage = {"plan": {"default": None, "rules": [{"pattern": "stage1", "spec": {"family": "relu"}},
                                                     {"pattern": "stage2", "spec": {"family": "layeract",
                                                                                    "params": {"alpha": 1e-5}}}]},
                 "train": {"lr": 0.1}}
    assert config_label(per_stage) == "stage1: relu; stage2: layeract(alpha=1e-05); lr=0.1"
