"""Confirm statistics against scipy on fixed numbers, Holm's correction, rank fidelity, and the verdict on
planted data: a crippled configuration is detected, identical ones are not different."""

from __future__ import annotations

import math

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState, create_trial
from scipy import stats

from actsearch.study import Candidate, ConfirmPlan, confirm_summary, confirmed_winner, format_confirm
from actsearch.study.confirm_stats import describe, holm, paired_comparison, rank_fidelity

A = [0.912, 0.905, 0.921, 0.899, 0.915]
B = [0.880, 0.884, 0.902, 0.871, 0.893]


def test_describe_matches_scipy():
    summary = describe(A)
    low, high = stats.t.interval(0.95, len(A) - 1, loc=np.mean(A), scale=stats.sem(A))
    assert summary["n"] == 5
    assert summary["mean"] == pytest.approx(np.mean(A))
    assert summary["std"] == pytest.approx(np.std(A, ddof=1))
    assert summary["ci95"] == pytest.approx([low, high])
    assert describe([0.5]) == {"n": 1, "mean": 0.5, "std": None, "ci95": None}
    assert describe([])["mean"] is None


def test_paired_comparison_matches_scipy_and_pairs_by_seed():
    values = dict(zip(range(5), A))
    reference = dict(zip(reversed(range(5)), reversed(B)))  # same pairs, given in another order
    reference[9] = 0.1  # a seed the other lacks is left out
    comparison = paired_comparison(values, reference)
    differences = np.subtract(A, B)
    assert comparison["n"] == 5
    assert comparison["diff"] == pytest.approx(differences.mean())
    assert comparison["p_t"] == pytest.approx(stats.ttest_rel(A, B).pvalue)
    assert comparison["p_wilcoxon"] == pytest.approx(stats.wilcoxon(A, B).pvalue)
    low, high = stats.t.interval(0.95, 4, loc=differences.mean(), scale=stats.sem(differences))
    assert comparison["ci95"] == pytest.approx([low, high])


def test_identical_runs_have_p_one_and_one_seed_has_no_test():
    same = paired_comparison({0: 0.9, 1: 0.8, 2: 0.85}, {0: 0.9, 1: 0.8, 2: 0.85})
    assert (same["diff"], same["p_t"], same["p_wilcoxon"]) == (0.0, 1.0, 1.0)
    alone = paired_comparison({0: 0.9}, {0: 0.8})
    assert alone["n"] == 1 and alone["p_t"] is None and alone["ci95"] is None


def test_holm_step_down():
    # sorted 0.005, 0.01, 0.03, 0.04 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> monotone: 0.02, 0.03, 0.06, 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, None, 0.9]) == [1.0, None, 1.0]
    assert holm([]) == []


def test_rank_fidelity_matches_scipy_with_a_bootstrap_interval():
    proxy = [0.7, 0.6, 0.5, 0.4]
    per_seed = [{0: 0.90, 1: 0.91, 2: 0.89}, {0: 0.85, 1: 0.88, 2: 0.86}, {0: 0.87, 1: 0.80, 2: 0.84},
                {0: 0.70, 1: 0.72, 2: 0.71}]
    means = [np.mean(list(values.values())) for values in per_seed]
    fidelity = rank_fidelity(proxy, per_seed)
    assert fidelity["n"] == 4
    assert fidelity["spearman"] == pytest.approx(stats.spearmanr(proxy, means).statistic)
    assert fidelity["kendall"] == pytest.approx(stats.kendalltau(proxy, means).statistic)
    low, high = fidelity["spearman_ci95"]
    assert -1 <= low <= fidelity["spearman"] <= high <= 1
    assert rank_fidelity([0.5], [{0: 0.9}])["spearman"] is None


def _plan(labels: list[tuple[str, str, float | None]], seeds: list[int]) -> ConfirmPlan:
    candidates = [Candidate(key, key, kind, {"plan": {"default": {"family": "relu"}}, "train": {}},
                            [proxy] if proxy is not None else None, index)
                  for index, (key, kind, proxy) in enumerate(labels)]
    return ConfirmPlan(candidates, seeds, {"dataset": "digits"}, "test",
                       [{"name": "val_accuracy", "direction": "maximize"}])


def _record(study: optuna.Study, key: str, values: list[float]) -> None:
    for seed, value in enumerate(values):
        study.add_trial(create_trial(value=value, user_attrs={"config_id": key, "seed": seed}))


def test_verdict_detects_a_planted_difference_and_not_identical_configurations():
    rng = np.random.default_rng(0)
    seed_effect = rng.normal(0, 0.02, 5)  # paired: each seed shifts every configuration alike
    plan = _plan([("good", "finalist", 0.9), ("same", "finalist", 0.8), ("relu", "baseline", 0.7)], list(range(5)))
    study = optuna.create_study(direction="maximize")
    _record(study, "good", list(0.90 + seed_effect + rng.normal(0, 0.003, 5)))
    _record(study, "same", list(0.85 + seed_effect))
    _record(study, "relu", list(0.85 + seed_effect))
    summary = confirm_summary(plan, study, max_retries=2)
    good, same = summary["finalists"]
    (vs_good,), (vs_same,) = good["vs_baselines"], same["vs_baselines"]
    assert vs_good["baseline"] == "relu" and vs_good["p_holm"] < 0.05
    assert vs_same["diff"] == pytest.approx(0.0) and vs_same["p_holm"] == 1.0
    assert vs_good["p_holm"] == pytest.approx(min(1.0, 2 * vs_good["p_t"]))  # Holm over the two finalists
    assert summary["verdict"].startswith("good: +")
    assert "points over relu (95% CI" in summary["verdict"] and "Holm, 5 seeds)" in summary["verdict"]
    assert "same" not in summary["verdict"]
    assert summary["finished"] and summary["runs"] == {"planned": 15, "pending": 0, "complete": 15, "failed": 0}
    means = [good["mean"], same["mean"], summary["baselines"][0]["mean"]]  # "same" ties the baseline
    assert summary["fidelity"]["n"] == 3
    assert summary["fidelity"]["spearman"] == pytest.approx(stats.spearmanr([0.9, 0.8, 0.7], means).statistic)
    assert confirmed_winner(summary)["label"] == "good"
    text = format_confirm(summary)
    assert "relu [baseline]" in text and "verdict: good: +" in text


def test_no_difference_verdict_names_the_smallest_holm_p_and_warns_on_low_fidelity():
    rng = np.random.default_rng(1)
    plan = _plan([("a", "finalist", 0.9), ("b", "finalist", 0.8), ("c", "finalist", 0.7), ("relu", "baseline", 0.6)],
                 list(range(4)))
    study = optuna.create_study(direction="maximize")
    for key, mean in (("a", 0.80), ("b", 0.81), ("c", 0.82), ("relu", 0.83)):  # the proxy's order, reversed
        _record(study, key, list(mean + rng.normal(0, 0.05, 4)))
    summary = confirm_summary(plan, study, max_retries=2)
    smallest = min(entry["vs_baselines"][0]["p_holm"] for entry in summary["finalists"])
    assert summary["verdict"] == f"no finalist differs from relu at 4 seeds (smallest Holm p = {smallest:.2g})"
    assert summary["fidelity"]["spearman"] < 0.5
    assert "raise the proxy's epochs or subset" in summary["fidelity"]["warning"]
    assert "warning: the proxy's ranking does not carry over" in format_confirm(summary)


def test_a_failed_run_is_listed_and_a_missing_run_is_pending():
    plan = _plan([("x", "finalist", 0.9), ("relu", "baseline", 0.7)], [0, 1])
    study = optuna.create_study(direction="maximize")
    _record(study, "x", [0.9, 0.91])
    study.add_trial(create_trial(state=TrialState.FAIL, user_attrs={
        "config_id": "relu", "seed": 0, "fail_kind": "diverged", "fail_reason": "diverged: loss became nan"}))
    summary = confirm_summary(plan, study, max_retries=2)
    relu = summary["baselines"][0]
    assert relu["failed"] == [{"seed": 0, "reason": "diverged: loss became nan"}] and relu["mean"] is None
    assert summary["runs"] == {"planned": 4, "pending": 1, "complete": 2, "failed": 1} and not summary["finished"]
    assert math.isfinite(summary["finalists"][0]["mean"])
