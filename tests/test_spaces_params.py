"""Parameter kinds of a space: parsing, suggesting, containment and their messages."""

from __future__ import annotations

import optuna
import pytest

from actsearch.errors import ConfigError
from actsearch.spaces import Categorical, Fixed, FloatRange, IntRange, SearchSpaceError, parse_parameter


@pytest.mark.parametrize("value,expected", [
    ({"low": 0.01, "high": 0.3, "log": True}, FloatRange(0.01, 0.3, True)),
    ({"low": 0.0, "high": 1.0, "step": 0.25}, FloatRange(0.0, 1.0, False, 0.25)),
    ({"low": 1, "high": 8}, IntRange(1, 8)),
    ({"low": 2, "high": 64, "log": True}, IntRange(2, 64, True)),
    ({"low": 0, "high": 12, "step": 4}, IntRange(0, 12, False, 4)),
    ({"choices": ["sigmoid", "hardsigmoid"]}, Categorical(("sigmoid", "hardsigmoid"))),
    (0.1, Fixed(0.1)),
    ("sgd", Fixed("sgd")),
    ([0.5, 0.75], Fixed([0.5, 0.75])),
])
def test_parse(value, expected):
    assert parse_parameter(value) == expected


def test_float_default_makes_an_integer_range_a_float_range():
    assert parse_parameter({"low": 1, "high": 3}, default=1.0) == FloatRange(1, 3)
    assert parse_parameter({"low": 1, "high": 3}, default=2) == IntRange(1, 3)


@pytest.mark.parametrize("value,default,message", [
    ({"low": 1.0, "high": 1.0}, 0.5, "low (1.0) must be below high (1.0)"),
    ({"low": -1.0, "high": 1.0, "log": True}, 0.5, "a log range needs low > 0 (got low=-1.0)"),
    ({"low": 0.1, "high": 1.0, "log": True, "step": 0.1}, 0.5, "step cannot be combined with log"),
    ({"low": 0.1, "high": 1.0, "step": -0.1}, 0.5, "step must be a positive number (got -0.1)"),
    ({"low": "a", "high": 1.0}, 0.5, "low and high must be numbers (got low='a', high=1.0)"),
    ({"low": 0.1, "high": 1.0, "log": "yes"}, 0.5, "log must be true or false (got 'yes')"),
    ({"low": 0.1, "high": 0.2}, "sgd", "a range needs a numeric parameter; its default is 'sgd'"),
    ({"choices": "relu"}, None, "choices: choices must be a list (got 'relu')"),
    ({"choices": [1, 1]}, None, "choices: choice 1 is listed twice"),
    ({"choices": [[1], [2]]}, None, "choices: choices must be plain values (null, bool, number or string); got [1]"),
    ({"choices": ["a", 1]}, "a", "choices: 1 does not match the type of the default 'a'"),
    ({"choices": [1], "low": 0}, None, "a parameter is either a range {low, high, log, step} or a categorical"),
    ({"high": 1.0}, None, "a range needs both low and high"),
    ({"hgih": 1.0, "low": 0.0}, None, "hgih: unknown key 'hgih'; allowed: low, high, log, step, choices; did you "
                                      "mean 'high'?"),
    (True, 0.5, "True does not match the type of the default 0.5"),
])
def test_parse_errors(value, default, message):
    with pytest.raises(SearchSpaceError) as caught:
        parse_parameter(value, default=default)
    assert str(caught.value) == message or str(caught.value).startswith(message)
    assert isinstance(caught.value, ConfigError)


def test_choices_keep_true_apart_from_one():
    assert Categorical((True, 1)).contains(1) and not Categorical((True, 2)).contains(1)
    assert not Fixed(1).contains(True)


@pytest.mark.parametrize("parameter,inside,outside", [
    (FloatRange(0.01, 0.3, True), [0.01, 0.1, 0.3], [0.0, 0.31, "0.1", True]),
    (FloatRange(0.0, 1.0, step=0.25), [0.0, 0.5, 1.0], [0.3, 1.25]),
    (IntRange(0, 12, step=4), [0, 4, 12], [2, 13, 4.5]),
    (Categorical(("a", None, 2)), ["a", None, 2], ["b", 3]),
    (Fixed("sgd"), ["sgd"], ["adamw"]),
])
def test_contains(parameter, inside, outside):
    assert all(parameter.contains(value) for value in inside)
    assert not any(parameter.contains(value) for value in outside)


def test_suggest_through_a_trial_and_a_fixed_trial():
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    trial = study.ask()
    parameters = {"a": FloatRange(0.01, 0.3, True), "b": IntRange(1, 9, step=2), "c": Categorical(("x", "y")),
                  "d": Fixed(7)}
    values = {name: p.suggest(trial, name) for name, p in parameters.items()}
    assert all(p.contains(values[name]) for name, p in parameters.items())
    assert set(trial.params) == {"a", "b", "c"}
    replay = optuna.trial.FixedTrial(trial.params)
    assert {name: p.suggest(replay, name) for name, p in parameters.items()} == values


def test_suggest_refuses_a_fixed_value_outside_the_range():
    with pytest.raises(ConfigError, match=r"parameter 'a' = 5.0 is outside the space \(float \[0.0, 1.0\]\)"):
        FloatRange(0.0, 1.0).suggest(optuna.trial.FixedTrial({"a": 5.0}), "a")
