"""The numbers behind a report: family grouping, ranking of several objectives, configuration text."""

from __future__ import annotations

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.trial import create_trial

from actsearch.report.data import collect_report_data, describe_config, trial_families

optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_families_are_labelled_from_the_config_else_user_attrs_else_family_params():
    distributions = {
        "stem.family": CategoricalDistribution(["relu", "gelu"]),
        "act.family": CategoricalDistribution(["elu"]),
    }
    params = {"stem.family": "gelu", "act.family": "elu"}
    with_attrs = create_trial(value=1.0, user_attrs={"families": ["relu", "layeract", "relu"]})
    from_params = create_trial(value=1.0, params=params, distributions=distributions)
    assert trial_families(with_attrs) == ("layeract", "relu")
    assert trial_families(from_params) == ("elu", "gelu")
    assert trial_families(create_trial(value=1.0)) == ()  # no family at all: no "unknown" row either
    config = {
        "plan": {
            "default": {"family": "layeract", "params": {"gate": "hardsigmoid"}},
            "rules": [{"pattern": "stem", "spec": {"family": "anact", "params": {"base": "silu"}}},
                      {"pattern": "stage1", "spec": {"family": "layeract", "params": {"alpha": 0.01}}}],
        },
        "train": {},
    }
    labelled = create_trial(value=1.0, user_attrs={"config": config, "families": ["anact", "layeract"]})
    assert trial_families(labelled) == ("anact(silu)", "la_hardsilu", "la_silu")


def test_several_objectives_rank_by_front_then_first_objective():
    study = optuna.create_study(directions=["maximize", "minimize"])
    points = [(0.9, 5.0), (0.5, 1.0), (0.8, 6.0), (0.4, 2.0), (0.7, 3.0), (0.3, 9.0)]
    for values in points:
        study.add_trial(create_trial(values=list(values)))
    data = collect_report_data(study, top=5)
    # Front 1: trials 0, 4, 1 (by accuracy); front 2: 2, 3; trial 5 is ranked last and cut by top=5.
    assert [t.number for t in data.top] == [0, 4, 1, 2, 3]
    assert [t.number for t in data.pareto] == [0, 1, 4]


def test_single_objective_minimize_ranks_smallest_first():
    study = optuna.create_study(direction="minimize")
    for value in [3.0, 1.0, 2.0]:
        study.add_trial(create_trial(value=value))
    assert [t.number for t in collect_report_data(study, top=2).top] == [1, 2]


def test_config_is_described_in_one_line():
    config = {
        "plan": {
            "default": {"family": "layeract", "params": {"alpha": 1e-5, "gate": "sigmoid"}},
            "rules": [{"pattern": "stem", "spec": {"family": "relu", "params": {}}}],
        },
        "train": {"lr": 0.123456, "optimizer": "sgd"},
    }
    trial = create_trial(value=1.0, user_attrs={"config": config})
    assert describe_config(trial) == (
        "all: layeract(alpha=1e-05, gate=sigmoid); stem: relu; train: lr=0.1235, optimizer=sgd"
    )
    bare = create_trial(value=1.0, params={"x": 0.5}, distributions={"x": FloatDistribution(0, 1)})
    assert describe_config(bare) == "x=0.5"
