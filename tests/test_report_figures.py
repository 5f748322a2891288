"""The report's figures name what a user recognises: la_silu apart from la_hardsilu, anact(silu), families that were
only pruned or failed with their counts, learning curves and corruption bars by configuration; no warnings."""

from __future__ import annotations

import json
import warnings

import optuna
import pytest
from optuna.distributions import CategoricalDistribution
from optuna.trial import TrialState, create_trial

from actsearch.report import write_report
from actsearch.report.data import collect_report_data
from actsearch.report.figures import corruption_figure, family_figure, learning_curve_figure

optuna.logging.set_verbosity(optuna.logging.WARNING)

SPECS = {
    "la_silu": {"family": "layeract", "params": {"gate": "sigmoid", "alpha": 1e-5}},
    "la_hardsilu": {"family": "layeract", "params": {"gate": "hardsigmoid"}},
    "anact": {"family": "anact", "params": {"base": "silu"}},
    "apalu": {"family": "apalu", "params": {}},
}
DISTRIBUTIONS = {"act.family": CategoricalDistribution(list(SPECS))}


def _trial(family: str, state: TrialState, accuracy: float | None, *, corrupted: bool = False):
    spec = SPECS[family]
    attrs = {"config": {"plan": {"default": spec, "rules": []}, "train": {}}, "families": [spec["family"]]}
    if state == TrialState.FAIL:
        attrs["fail_reason"] = "diverged: loss 81 is above 10 x its starting value 2.3 at epoch 3"
    else:
        history = [{"epoch": 1, "val_accuracy": accuracy / 2}, {"epoch": 2, "val_accuracy": accuracy}]
        attrs["result"] = {"val_accuracy": accuracy, "history": history[: 1 if state == TrialState.PRUNED else 2]}
        if corrupted:
            attrs["result"]["corrupted"] = {"mean": accuracy - 0.2, "per_category": {"noise": accuracy - 0.3},
                                            "per_severity": {"1": accuracy - 0.1, "3": accuracy - 0.3}}
    return create_trial(state=state, value=accuracy if state == TrialState.COMPLETE else None,
                        params={"act.family": family}, distributions=DISTRIBUTIONS, user_attrs=attrs)


@pytest.fixture
def study():
    study = optuna.create_study(direction="maximize")
    study.set_user_attr("actsearch", {"objectives": [{"name": "val_accuracy", "direction": "maximize"}]})
    for family, state, accuracy in [
        ("la_silu", TrialState.COMPLETE, 0.9), ("la_silu", TrialState.COMPLETE, 0.8),
        ("la_hardsilu", TrialState.COMPLETE, 0.7), ("la_hardsilu", TrialState.PRUNED, 0.3),
        ("anact", TrialState.PRUNED, 0.2), ("anact", TrialState.FAIL, None),
        ("apalu", TrialState.FAIL, None), ("apalu", TrialState.FAIL, None),
    ]:
        study.add_trial(_trial(family, state, accuracy, corrupted=state == TrialState.COMPLETE))
    study.add_trial(create_trial(state=TrialState.FAIL, user_attrs={"fail_reason": "invalid configuration"}))
    return study


def test_families_are_labelled_apart_and_counted_including_those_never_completed(study):
    data = collect_report_data(study)
    assert data.family_order() == ["la_silu", "la_hardsilu", "anact(silu)", "apalu"]
    assert data.family_counts()["apalu"] == {"complete": 0, "pruned": 0, "failed": 2}
    assert data.family_title("anact(silu)") == "anact(silu) (1 pruned, 1 failed)"
    summary = data.summary()["families"]
    assert list(summary) == ["la_silu", "la_hardsilu", "anact(silu)", "apalu"]  # no "unknown" row
    assert (summary["apalu"]["count"], summary["apalu"]["failed"], summary["apalu"]["objectives"]) == (
        0, 2, {"val_accuracy": None})
    names = [trace.name for trace in family_figure(data).data]
    assert names == ["la_silu (2 complete)", "la_hardsilu (1 complete, 1 pruned)",
                     "anact(silu) (1 pruned, 1 failed)", "apalu (2 failed)"]


def test_learning_curves_and_corruption_bars_are_named_by_configuration(study):
    data = collect_report_data(study)
    curves = {trace.name for trace in learning_curve_figure(study, data).data}
    assert {"la_silu (trial 0)", "la_hardsilu (trial 3, pruned)", "anact(silu) (trial 4, pruned)"} <= curves
    bars = [trace.name for trace in corruption_figure(data).data if trace.type == "bar"]
    assert bars == ["#1 la_silu (trial 0)", "#2 la_silu (trial 1)", "#3 la_hardsilu (trial 2)"]


def test_report_is_written_without_a_single_warning(study, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        paths = write_report(study, tmp_path)
    assert sorted(paths.figures) == ["corruption", "families", "history", "learning_curves"]
    assert "unknown" not in json.loads(paths.summary.read_text())["families"]
