"""The statistics of a confirm stage, with scipy: summaries, paired tests, Holm's correction, rank fidelity.

Every comparison is paired by seed: seed s of two configurations trained on the same split, order and
initialisation, so their difference at seed s is one observation. Undefined values (too few seeds, no
variance) are None, never NaN, so the results stay valid JSON.

Example:
    >>> summary = describe([0.90, 0.92, 0.94])
    >>> round(summary["mean"], 4), round(summary["std"], 4), [round(x, 3) for x in summary["ci95"]]
    (0.92, 0.02, [0.87, 0.97])
    >>> holm([0.01, 0.04, 0.03])
    [0.03, 0.06, 0.06]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["FIDELITY_WARNING", "describe", "holm", "paired_comparison", "rank_fidelity"]

CONFIDENCE = 0.95
FIDELITY_WARNING = 0.5  # below this Spearman correlation the proxy's ranking does not carry over
BOOTSTRAP_SAMPLES = 1000
# scipy.stats takes about a second to import: each function imports it, so `validate`, `status` and `export`
# of a study without a confirm stage do not pay for it.


def _finite(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _t_interval(values: np.ndarray) -> list[float] | None:
    from scipy import stats

    if len(values) < 2:
        return None
    scale = stats.sem(values)
    if scale == 0:
        return [float(values.mean())] * 2
    low, high = stats.t.interval(CONFIDENCE, len(values) - 1, loc=values.mean(), scale=scale)
    return [float(low), float(high)]


def describe(values: Sequence[float]) -> dict:
    """``n``, ``mean``, ``std`` (sample, ddof 1) and the t-based 95% confidence interval of the mean."""
    array = np.asarray(values, dtype=float)
    if not len(array):
        return {"n": 0, "mean": None, "std": None, "ci95": None}
    return {
        "n": len(array),
        "mean": float(array.mean()),
        "std": float(array.std(ddof=1)) if len(array) > 1 else None,
        "ci95": _t_interval(array),
    }


def paired_comparison(values: Mapping[int, float], reference: Mapping[int, float]) -> dict:
    """``values`` against ``reference``, both by seed, over the seeds both have.

    ``diff`` is the mean of ``values - reference`` with its t interval; ``p_t`` the paired t-test and
    ``p_wilcoxon`` the Wilcoxon signed-rank test (two-sided). Identical runs give p = 1.
    """
    from scipy import stats

    seeds = sorted(set(values) & set(reference))
    differences = np.array([values[seed] - reference[seed] for seed in seeds], dtype=float)
    result = {"n": len(seeds), "diff": float(differences.mean()) if seeds else None,
              "ci95": _t_interval(differences), "p_t": None, "p_wilcoxon": None}
    if len(seeds) < 2:
        return result
    if not differences.any():
        return result | {"p_t": 1.0, "p_wilcoxon": 1.0}
    a = np.array([values[seed] for seed in seeds])
    b = np.array([reference[seed] for seed in seeds])
    result["p_t"] = _finite(stats.ttest_rel(a, b).pvalue)
    result["p_wilcoxon"] = _finite(stats.wilcoxon(a, b).pvalue)
    return result


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjustment (family-wise error) of ``pvalues``; None stays None and is not counted."""
    present = sorted((p, index) for index, p in enumerate(pvalues) if p is not None)
    adjusted: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for rank, (p, index) in enumerate(present):
        running = max(running, min(1.0, (len(present) - rank) * p))
        adjusted[index] = running
    return adjusted


def rank_fidelity(proxy: Sequence[float], per_seed: Sequence[Mapping[int, float]], *, seed: int = 0) -> dict:
    """Spearman and Kendall correlation of ``proxy`` scores with the confirmed means (one entry per
    configuration, ``per_seed`` its values by seed), and a bootstrap 95% interval over seeds.

    The bootstrap draws seeds with replacement, the same draw for every configuration (pairing kept), and
    recomputes the means and the correlations.
    """
    from scipy import stats

    n = len(proxy)
    result = {"n": n, "spearman": None, "kendall": None, "spearman_ci95": None, "kendall_ci95": None}
    if n < 2:
        return result
    seeds = sorted(set().union(*per_seed))
    table = np.array([[values.get(s, np.nan) for s in seeds] for values in per_seed], dtype=float)
    means = np.nanmean(table, axis=1)
    result["spearman"] = _finite(stats.spearmanr(proxy, means).statistic)
    result["kendall"] = _finite(stats.kendalltau(proxy, means).statistic)
    if len(seeds) < 2:
        return result
    rng = np.random.default_rng(seed)
    draws = {"spearman": [], "kendall": []}
    for _ in range(BOOTSTRAP_SAMPLES):
        sample = table[:, rng.integers(0, len(seeds), len(seeds))]
        if np.isnan(sample).all(axis=1).any():
            continue
        sample_means = np.nanmean(sample, axis=1)
        draws["spearman"].append(stats.spearmanr(proxy, sample_means).statistic)
        draws["kendall"].append(stats.kendalltau(proxy, sample_means).statistic)
    for name, values in draws.items():
        values = np.asarray(values, dtype=float)
        values = values[np.isfinite(values)]
        if len(values):
            result[f"{name}_ci95"] = [float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))]
    return result
