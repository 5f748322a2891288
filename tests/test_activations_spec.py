"""ActivationSpec / PlacementPlan: validation, error messages, round trips, matching."""

import dataclasses

import pytest

import actsearch.activations as A
from actsearch.errors import ConfigError

SPECS = [
    A.ActivationSpec("relu"),
    A.ActivationSpec("la_silu", {"alpha": 0.1}),
    A.ActivationSpec("layeract", {"gate": "hardsigmoid", "dims": [-2, -1]}),
    A.ActivationSpec("anact", {"base": "prelu", "base_params": {"per_channel": True}, "momentum": 0.95}),
    A.ActivationSpec("apalu", {"per_channel": True}),
    A.ActivationSpec("gelu", {"approximate": "tanh"}),
]


@pytest.mark.parametrize("spec", SPECS, ids=repr)
def test_spec_round_trips(spec):
    assert A.ActivationSpec.from_dict(spec.to_dict()) == spec
    assert A.ActivationSpec.from_json(spec.to_json()) == spec
    assert A.ActivationSpec.from_yaml(spec.to_yaml()) == spec
    assert hash(A.ActivationSpec.from_yaml(spec.to_yaml())) == hash(spec)
    assert isinstance(spec.build(), A.get_activation(spec.family))
    assert spec.build() is not spec.build()


def test_alias_resolves_to_family_and_presets():
    spec = A.ActivationSpec("la_hardsilu", {"alpha": 0.1})
    assert spec.to_dict() == {"family": "layeract", "params": {"gate": "hardsigmoid", "alpha": 0.1}}
    module = spec.build()
    assert (module.gate, module.alpha) == ("hardsigmoid", 0.1)
    with pytest.raises(A.ActivationSpecError, match="contradicts the alias"):
        A.ActivationSpec("la_silu", {"gate": "hardsigmoid"})


def test_spec_is_frozen_and_lists_become_tuples():
    spec = A.ActivationSpec("layeract", {"dims": [2, 3]})
    assert spec.params["dims"] == (2, 3)
    assert spec.to_dict()["params"]["dims"] == [2, 3]
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.family = "relu"
    with pytest.raises(TypeError):
        spec.params["alpha"] = 1.0


def test_with_params_and_parse():
    spec = A.ActivationSpec.parse("leaky_relu").with_params(negative_slope=0.2)
    assert spec == A.ActivationSpec("leaky_relu", {"negative_slope": 0.2})
    assert A.ActivationSpec.parse(spec) is spec
    assert A.ActivationSpec.parse({"family": "leaky_relu", "params": {"negative_slope": 0.2}}) == spec
    assert A.create_activation(spec).negative_slope == 0.2
    assert A.create_activation("la_silu", alpha=0.5).alpha == 0.5


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: A.ActivationSpec("swishh"), r"unknown activation family 'swishh'; allowed: anact, .*did you mean"),
        (
            lambda: A.ActivationSpec("layeract", {"alpah": 1e-3}),
            r"layeract: unknown parameter 'alpah'; allowed: gate, alpha, dims; did you mean 'alpha'\?",
        ),
        (lambda: A.ActivationSpec("layeract", {"gate": "relu"}), r"allowed: 'sigmoid', 'hardsigmoid'"),
        (lambda: A.ActivationSpec("layeract", {"alpha": "1e-5"}), r"alpha='1e-5' is not allowed; allowed: a number"),
        (lambda: A.ActivationSpec("relu", {"x": object()}), r"unknown parameter 'x'"),
        (lambda: A.ActivationSpec("prelu", {"init": object()}), r"prelu: init=<object.*allowed: a number, string"),
        (lambda: A.ActivationSpec.from_dict({"family": "relu", "parms": {}}), r"unknown key 'parms'; allowed: family, "
                                                                              r"params; did you mean 'params'\?"),
        (lambda: A.ActivationSpec.from_dict({"params": {}}), r"missing key 'family'"),
        (lambda: A.ActivationSpec.from_json("{"), r"invalid JSON"),
        (lambda: A.ActivationSpec.parse(3), r"activation spec must be a mapping .* or a family name, got 3"),
    ],
)
def test_spec_errors_name_what_is_allowed(build, message):
    with pytest.raises(ConfigError, match=message):
        build()


def test_plan_matching_first_rule_wins():
    plan = A.PlacementPlan(
        default=A.ActivationSpec("relu"),
        rules=(
            A.PlacementRule("layer1.0", A.ActivationSpec("apalu")),
            A.PlacementRule("layer1", A.ActivationSpec("la_silu")),
            A.PlacementRule("layer*.1.relu", A.ActivationSpec("gelu")),
        ),
    )
    assert plan.spec_for("layer1.0.relu").family == "apalu"
    assert plan.spec_for("layer1.1.relu").family == "layeract"
    assert plan.spec_for("layer2.1.relu").family == "gelu"
    assert plan.spec_for("layer10.0.relu").family == "relu"  # "layer1" is not a prefix of "layer10" by name parts
    assert plan.spec_for("relu").family == "relu"
    assert A.PlacementPlan(rules=(("stem", "silu"),)).spec_for("layer1.relu") is None
    assert plan.families() == ["apalu", "gelu", "layeract", "relu"]


def test_plan_round_trips_and_parse():
    plan = A.PlacementPlan(
        default="silu",
        rules=[{"pattern": "layer4", "spec": {"family": "anact", "params": {"base": "relu"}}}, ("layer3", "la_silu")],
    )
    assert plan.to_dict() == {
        "default": {"family": "silu", "params": {}},
        "rules": [
            {"pattern": "layer4", "spec": {"family": "anact", "params": {"base": "relu"}}},
            {"pattern": "layer3", "spec": {"family": "layeract", "params": {"gate": "sigmoid"}}},
        ],
    }
    assert A.PlacementPlan.from_dict(plan.to_dict()) == plan
    assert A.PlacementPlan.from_json(plan.to_json()) == plan
    assert A.PlacementPlan.from_yaml(plan.to_yaml()) == plan
    assert A.PlacementPlan.parse(plan) is plan
    assert A.PlacementPlan.parse("relu") == A.PlacementPlan(default=A.ActivationSpec("relu"))
    assert A.PlacementPlan.parse({"family": "relu"}) == A.PlacementPlan.parse(A.ActivationSpec("relu"))
    assert A.PlacementPlan.parse({"rules": [{"pattern": "a", "spec": "relu"}]}).default is None
    assert hash(plan) == hash(A.PlacementPlan.from_json(plan.to_json()))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"default": "relu", "rule": []}, r"placement plan: unknown key 'rule'; allowed: default, rules; did you mean"),
        ({"rules": [{"pattern": "x", "spec": "relux"}]}, r"rules\[0\]: unknown activation family 'relux'"),
        ({"rules": [{"pattern": "", "spec": "relu"}]}, r"rules\[0\]: placement rule pattern '' is not allowed"),
        ({"rules": [{"spec": "relu"}]}, r"rules\[0\]: placement rule: missing key 'pattern'"),
        ({"default": {"family": "relu", "params": {"x": 1}}}, r"default: relu: unknown parameter 'x'"),
        ({"rules": "relu"}, r"rules='relu' is not allowed; allowed: a list of rules"),
        ({"famly": "relu"}, r"activation spec: unknown key 'famly'; allowed: family, params; did you mean 'family'"),
    ],
)
def test_plan_errors(data, message):
    with pytest.raises(A.ActivationSpecError, match=message):
        A.PlacementPlan.parse(data)
