"""SearchSpace: define-by-run names, conditional suggestions, stable decoding, placements and baselines."""

from __future__ import annotations

import optuna
import pytest

from actsearch.activations import ActivationSpec, PlacementPlan, PlacementRule
from actsearch.errors import ConfigError
from actsearch.spaces import Baseline, SearchSpace, SearchSpaceError, TrialConfig

FAMILIES = {
    "relu": {},
    "leaky_relu": {"negative_slope": {"low": 0.001, "high": 0.3, "log": True}},
    "layeract": {"gate": {"choices": ["sigmoid", "hardsigmoid"]}, "alpha": {"low": 1e-6, "high": 0.1, "log": True}},
}
TRAIN_DEFAULTS = {"lr": 0.1, "weight_decay": 5e-4, "label_smoothing": 0.0, "optimizer": "sgd"}
STAGES = ["stem", "stage1", "stage2", "stage3"]


def make_space(placement: object = "global", train: object = None, families: object = None) -> SearchSpace:
    data = {"families": FAMILIES if families is None else families, "placement": placement,
            "train": {"lr": {"low": 0.02, "high": 0.3, "log": True}, "label_smoothing": 0.1}
            if train is None else train}
    return SearchSpace.from_dict(data, stages=STAGES, train_defaults=TRAIN_DEFAULTS)


def asked(space: SearchSpace, sampler: optuna.samplers.BaseSampler, n: int):
    study = optuna.create_study(sampler=sampler)
    for number in range(n):
        trial = study.ask()
        config = space.suggest(trial)
        yield trial, config
        study.tell(trial, float(number % 7))


def test_global_names_are_stable():
    assert list(make_space().parameters()) == [
        "act.family", "act.leaky_relu.negative_slope", "act.layeract.gate", "act.layeract.alpha", "train.lr",
    ]


def test_per_stage_names_use_the_stage():
    names = list(make_space("per_stage").parameters())
    assert names[:4] == ["stem.family", "stem.leaky_relu.negative_slope", "stem.layeract.gate", "stem.layeract.alpha"]
    assert "stage2.family" in names and "stage2.layeract.alpha" in names and names[-1] == "train.lr"


def test_decode_builds_the_plan_and_the_training_overrides():
    config = make_space().decode({"act.family": "layeract", "act.layeract.gate": "hardsigmoid",
                                  "act.layeract.alpha": 1e-5, "train.lr": 0.05})
    assert config == TrialConfig(
        PlacementPlan(default=ActivationSpec("layeract", {"gate": "hardsigmoid", "alpha": 1e-5})),
        {"lr": 0.05, "label_smoothing": 0.1},
    )
    assert config.families() == ["layeract"]


def test_per_stage_decode_gives_one_rule_per_stage():
    params = {f"{stage}.family": "relu" for stage in STAGES} | {"stage2.family": "leaky_relu",
                                                                 "stage2.leaky_relu.negative_slope": 0.05}
    plan = make_space("per_stage", train={}).decode(params).plan
    assert plan.default is None
    assert [rule.pattern for rule in plan.rules] == STAGES
    assert plan.spec_for("stage2.0.act") == ActivationSpec("leaky_relu", {"negative_slope": 0.05})
    assert plan.spec_for("stage3.1.act1") == ActivationSpec("relu")


def test_pattern_placement_with_the_rest_searched_or_kept():
    space = make_space({"patterns": ["stage3", "stage1.*"]}, train={})
    assert [(slot.name, slot.pattern) for slot in space.placement.slots] == [
        ("stage3", "stage3"), ("stage1_x", "stage1.*"), ("act", None)]
    plan = space.decode({"stage3.family": "relu", "stage1_x.family": "relu", "act.family": "layeract",
                         "act.layeract.gate": "sigmoid", "act.layeract.alpha": 0.01}).plan
    relu = ActivationSpec("relu")
    assert plan.rules == (PlacementRule("stage3", relu), PlacementRule("stage1.*", relu))
    assert plan.default.family == "layeract"
    kept = make_space({"patterns": {"deep": "stage3"}, "others": "keep"}, train={})
    assert kept.decode({"deep.family": "relu"}).plan == PlacementPlan(rules=(PlacementRule("stage3", relu),))


@pytest.mark.parametrize("placement,message", [
    ({"patterns": ["a.b", "a_b"]}, "placement.patterns: patterns 'a.b' and 'a_b' both make the slot name 'a_b'"),
    ({"patterns": ["act"]}, "placement.patterns: pattern 'act' makes the slot name 'act', which `others: search` uses"),
    ({"patterns": ["train"]}, "placement.patterns: slot name 'train' is reserved"),
    ({"patterns": []}, "placement.patterns: at least one pattern is needed"),
    ({"patterns": {"2deep": "stage3"}}, "placement.patterns.2deep: a slot name is a letter"),
    ({"patterns": ["stage1"], "other": "keep"}, "placement.other: unknown key 'other'; allowed: patterns, others"),
    ({"patterns": ["stage1"], "others": "kept"}, "placement.others: unknown value 'kept'; allowed: search, keep"),
    ("everywhere", "placement: unknown placement 'everywhere'; allowed: global, per_stage"),
])
def test_placement_errors(placement, message):
    with pytest.raises(SearchSpaceError) as caught:
        make_space(placement)
    assert str(caught.value).startswith(message), str(caught.value)


def test_per_stage_needs_stage_names():
    with pytest.raises(SearchSpaceError, match="per_stage placement needs the network's stage names"):
        SearchSpace.from_dict({"families": ["relu"], "placement": "per_stage"})


def test_conditional_parameters_only_for_the_chosen_family():
    for trial, config in asked(make_space(), optuna.samplers.RandomSampler(seed=1), 40):
        family = trial.params["act.family"]
        own = {name for name in trial.params if name.startswith("act.") and name != "act.family"}
        assert all(name.startswith(f"act.{family}.") for name in own)
        assert config.plan.default.family == family


@pytest.mark.parametrize("sampler", [optuna.samplers.RandomSampler(seed=2),
                                     optuna.samplers.TPESampler(seed=2, multivariate=True, group=True,
                                                                n_startup_trials=5)])
def test_decoding_is_stable_and_equals_the_suggestion(sampler):
    space = make_space("per_stage")
    for trial, config in asked(space, sampler, 30):
        assert space.decode(trial.params) == config
        assert space.decode(dict(reversed(list(trial.params.items())))) == config
        assert TrialConfig.from_dict(config.to_dict()) == config


def test_fixed_values_are_not_suggested_but_are_in_the_config():
    space = make_space(families={"leaky_relu": {"negative_slope": 0.2}}, train={"label_smoothing": 0.1})
    assert space.parameters() == {}
    config = space.decode({})
    assert config.plan.default == ActivationSpec("leaky_relu", {"negative_slope": 0.2})
    assert config.train == {"label_smoothing": 0.1}


def test_decode_rejects_missing_and_outside_params():
    space = make_space()
    with pytest.raises(ConfigError, match="params do not fit this space"):
        space.decode({"train.lr": 0.1})
    with pytest.raises(ConfigError, match=r"parameter 'train.lr' = 5.0 is outside the space"):
        space.decode({"act.family": "relu", "train.lr": 5.0})


@pytest.mark.parametrize("baseline,expected", [
    ({"family": "relu"}, {"act.family": "relu", "train.lr": 0.1}),
    ({"family": "la_silu", "alpha": 1e-5}, {"act.family": "layeract", "act.layeract.gate": "sigmoid",
                                           "act.layeract.alpha": 1e-5, "train.lr": 0.1}),
    ({"family": "layeract", "gate": "hardsigmoid", "train": {"lr": 0.05}},
     {"act.family": "layeract", "act.layeract.gate": "hardsigmoid", "act.layeract.alpha": 1e-5, "train.lr": 0.05}),
])
def test_baseline_params(baseline, expected):
    assert make_space().baseline_params(baseline) == expected


def test_baseline_on_an_alias_listed_in_the_space():
    space = make_space(families={"la_silu": {"alpha": {"low": 1e-6, "high": 0.1, "log": True}}, "relu": {}}, train={})
    assert space.baseline_params({"family": "layeract", "alpha": 1e-4}) == {
        "act.family": "la_silu", "act.la_silu.alpha": 1e-4}
    with pytest.raises(SearchSpaceError, match="gate: 'hardsigmoid' is outside the space: the default of la_silu"):
        space.baseline_params({"family": "la_hardsilu"})


def test_baseline_fills_every_slot():
    params = make_space("per_stage", train={}).baseline_params(Baseline("la_silu", {"alpha": 1e-5}))
    for stage in STAGES:
        assert params[f"{stage}.family"] == "layeract" and params[f"{stage}.layeract.alpha"] == 1e-5


@pytest.mark.parametrize("placement", ["global", "per_stage"])
def test_enqueued_baseline_comes_back_from_ask(placement):
    space = make_space(placement)
    baseline = Baseline("la_silu", {"alpha": 1e-5}, {"lr": 0.2}, name="layeract")
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    study.enqueue_trial(space.baseline_params(baseline))
    config = space.suggest(study.ask())
    expected_spec = ActivationSpec("layeract", {"gate": "sigmoid", "alpha": 1e-5})
    assert config.train == {"lr": 0.2, "label_smoothing": 0.1}
    assert set(config.families()) == {"layeract"}
    specs = [config.plan.default] if placement == "global" else [rule.spec for rule in config.plan.rules]
    assert specs and all(spec == expected_spec for spec in specs)


def test_baseline_without_a_default_for_a_searched_training_key():
    space = SearchSpace.from_dict({"families": ["relu"], "train": {"lr": {"low": 0.01, "high": 0.3}}})
    with pytest.raises(SearchSpaceError, match="train.lr: searched by the space .* with no default known"):
        space.baseline_params({"family": "relu"})
    assert space.baseline_params({"family": "relu", "train": {"lr": 0.2}}) == {"train.lr": 0.2}


def test_space_errors_are_collected_with_their_paths():
    with pytest.raises(SearchSpaceError) as caught:
        SearchSpace.from_dict({"families": {"relux": {}, "layeract": {"alpha": {"low": 1.0, "high": 0.1}}},
                               "train": {"lr": {"low": 0, "high": 1, "log": True}}, "extra": 1},
                              train_defaults=TRAIN_DEFAULTS)
    paths = [path for path, _ in caught.value.problems]
    assert paths == ["extra", "families.relux", "families.layeract.alpha", "train.lr"]


def test_has_categorical():
    assert make_space().has_categorical
    assert not make_space(families={"leaky_relu": {"negative_slope": {"low": 0.01, "high": 0.3}}}).has_categorical


def test_describe_lists_searched_and_fixed_values():
    text = make_space(families={"relu": {}, "leaky_relu": {"negative_slope": 0.2}}).describe()
    assert text.splitlines() == [
        "placement: global (act)", "act.family: one of [relu, leaky_relu]", "train.lr: float [0.02, 0.3, log]",
        "leaky_relu.negative_slope: fixed 0.2", "train.label_smoothing: fixed 0.1",
    ]
