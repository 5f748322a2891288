"""What a confirm stage found: per configuration statistics, comparisons with the baselines, the proxy's
fidelity and a plain verdict, as the object ``confirm.json`` holds and as text.

Statistics are on the first objective for the comparisons and the verdict, on every objective for the
per-configuration summaries. Finalists are compared with every baseline, p-values corrected (Holm) over
the finalists; with no finalists (``--only-baselines``) every baseline is compared with the first one.

Example:
    >>> from actsearch.study import load_study_file
    >>> summary = confirm_summary_of(load_study_file("studies/quickstart.yaml"))  # doctest: +SKIP
    >>> print(format_confirm(summary))  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.trial import TrialState

from actsearch.study.confirm import FINAL_FAILURES, ConfirmPlan, load_confirm, pending_runs, runs_by_job
from actsearch.study.confirm_stats import FIDELITY_WARNING, describe, holm, paired_comparison, rank_fidelity
from actsearch.study.ranking import knee_index
from actsearch.study.storage import run_directory
from actsearch.study.studyfile import StudyFile
from actsearch.study.trial_log import write_json_atomic

__all__ = [
    "CONFIRM_JSON",
    "confirm_summary",
    "confirm_summary_of",
    "confirmed_winner",
    "format_confirm",
    "write_confirm_json",
]

CONFIRM_JSON = "confirm.json"
SIGNIFICANCE = 0.05
LOW_FIDELITY = "the proxy's ranking does not carry over: raise the proxy's epochs or subset"


def confirm_summary(plan: ConfirmPlan, confirm_study: optuna.Study, *, max_retries: int) -> dict:
    """The confirm stage's results as a JSON-ready dict (see the module docstring)."""
    runs = runs_by_job(confirm_study)
    names = [objective["name"] for objective in plan.objectives]
    entries = {}
    for candidate in plan.candidates:
        by_objective: dict[str, dict[int, float]] = {name: {} for name in names}
        failed = []
        for seed in plan.seeds:
            trials = runs.get((candidate.key, seed), [])
            done = next((trial for trial in trials if trial.state == TrialState.COMPLETE), None)
            if done is not None:
                for name, value in zip(names, done.values):
                    by_objective[name][seed] = value
            elif trials and trials[-1].user_attrs.get("fail_kind") in FINAL_FAILURES:
                failed.append({"seed": seed, "reason": trials[-1].user_attrs.get("fail_reason")})
        primary = describe(list(by_objective[names[0]].values()))
        entries[candidate.key] = {
            "label": candidate.label,
            "kind": candidate.kind,
            "config": candidate.config,
            "proxy_score": candidate.proxy_score,
            "proxy_trial": candidate.trial,
            "seeds": sorted(by_objective[names[0]]),
            "values": {name: [values[seed] for seed in sorted(values)] for name, values in by_objective.items()},
            "mean": primary["mean"],
            "std": primary["std"],
            "ci95": primary["ci95"],
            "objectives": {name: describe(list(values.values())) for name, values in by_objective.items()},
            "failed": failed,
            "vs_baselines": [],
            "_by_seed": by_objective[names[0]],
        }
    finalists = [entries[c.key] for c in plan.candidates if c.kind == "finalist"]
    baselines = [entries[c.key] for c in plan.candidates if c.kind == "baseline"]
    challengers, references = (finalists, baselines) if finalists else (baselines[1:], baselines[:1])
    for reference in references:
        comparisons = [paired_comparison(entry["_by_seed"], reference["_by_seed"]) for entry in challengers]
        for entry, comparison, p_holm in zip(challengers, comparisons, holm([c["p_t"] for c in comparisons])):
            entry["vs_baselines"].append({"baseline": reference["label"], **comparison, "p_holm": p_holm})
    scored = [entry for entry in entries.values() if entry["proxy_score"] is not None and entry["_by_seed"]]
    fidelity = rank_fidelity([entry["proxy_score"] for entry in scored], [entry["_by_seed"] for entry in scored])
    if fidelity["spearman"] is not None and fidelity["spearman"] < FIDELITY_WARNING:
        fidelity["warning"] = LOW_FIDELITY
    for entry in entries.values():
        del entry["_by_seed"]
    pending = pending_runs(plan, confirm_study, max_retries)
    return {
        "objectives": plan.objectives,
        "evaluate": plan.evaluate,
        "seeds": plan.seeds,
        "task": plan.task,
        "finished": not pending,
        "runs": {"planned": len(plan.jobs()), "pending": len(pending),
                 "complete": sum(len(entry["seeds"]) for entry in entries.values()),
                 "failed": sum(len(entry["failed"]) for entry in entries.values())},
        "finalists": finalists,
        "baselines": baselines,
        "fidelity": fidelity,
        "verdict": _verdict(challengers, references, plan.objectives[0], bool(finalists)),
    }


def _verdict(challengers: list[dict], references: list[dict], objective: dict, finalists: bool) -> str:
    if not challengers or not references:
        return "nothing to compare: confirm at least one finalist and one baseline"
    points = objective["name"].endswith("accuracy")
    maximize = objective["direction"] == "maximize"
    lines = []
    for reference in references:
        compared = [(entry, next(c for c in entry["vs_baselines"] if c["baseline"] == reference["label"]))
                    for entry in challengers]
        significant = [(e, c) for e, c in compared if c["p_holm"] is not None and c["p_holm"] < SIGNIFICANCE]
        seeds = max(c["n"] for _, c in compared)
        for entry, comparison in significant:
            low, high = comparison["ci95"]
            scale = 100.0 if points else 1.0
            unit = " points" if points else f" {objective['name']}"
            better = (comparison["diff"] > 0) == maximize
            lines.append(
                f"{entry['label']}: {comparison['diff'] * scale:+.2f}{unit} {'over' if better else 'under'} "
                f"{reference['label']} (95% CI {low * scale:.2f}..{high * scale:.2f}, "
                f"p={comparison['p_holm']:.2g} Holm, {comparison['n']} seeds)"
            )
        if not significant:
            p_values = [c["p_holm"] for _, c in compared if c["p_holm"] is not None]
            smallest = f"smallest Holm p = {min(p_values):.2g}" if p_values else "too few paired seeds for a test"
            who = "no finalist" if finalists else "no baseline"
            lines.append(f"{who} differs from {reference['label']} at {seeds} seeds ({smallest})")
    return "\n".join(lines)


def confirmed_winner(summary: dict) -> dict | None:
    """The confirmed configuration with the best mean (several objectives: the knee of the Pareto set of the
    confirmed means); ties go to the earlier one, finalists in proxy order, then baselines."""
    entries = [entry for entry in summary["finalists"] + summary["baselines"]
               if all(stats["mean"] is not None for stats in entry["objectives"].values())]
    if not entries:
        return None
    directions = [objective["direction"] for objective in summary["objectives"]]
    signs = [-1.0 if direction == "maximize" else 1.0 for direction in directions]
    points = [[sign * stats["mean"] for sign, stats in zip(signs, entry["objectives"].values())] for entry in entries]
    if len(directions) == 1:
        return entries[min(range(len(entries)), key=lambda index: (points[index][0], index))]
    front = [index for index, point in enumerate(points)
             if not any(all(o <= p for o, p in zip(other, point)) and other != point for other in points)]
    means = [[entries[index]["objectives"][o["name"]]["mean"] for o in summary["objectives"]] for index in front]
    return entries[front[knee_index(means, directions)]]


def confirm_summary_of(study_file: StudyFile, *, runs_dir: str | Path = ".") -> dict | None:
    """The summary of the study's confirm stage from its storage; None when none has started."""
    loaded = load_confirm(study_file, runs_dir=runs_dir)
    if loaded is None:
        return None
    return confirm_summary(*loaded, max_retries=study_file.budget.max_retries)


def write_confirm_json(study_file: StudyFile, summary: dict, *, runs_dir: str | Path = ".") -> Path:
    """``runs/<name>/confirm.json``, written atomically."""
    return write_json_atomic(run_directory(study_file.name, runs_dir) / CONFIRM_JSON, summary)


def format_confirm(summary: dict) -> str:
    """The confirm table, the fidelity and the verdict as text (``actsearch confirm``, ``actsearch status``)."""
    runs = summary["runs"]
    objective = summary["objectives"][0]["name"]
    state = "finished" if summary["finished"] else f"{runs['pending']} runs pending"
    lines = [f"confirm on {summary['evaluate']} ({objective}), seeds {summary['seeds']}: "
             f"{runs['complete']}/{runs['planned']} runs complete, {runs['failed']} failed; {state}"]
    entries = summary["finalists"] + summary["baselines"]
    width = max(len(entry["label"]) + (11 if entry["kind"] == "baseline" else 0) for entry in entries)
    lines.append(f"  {'configuration':<{width}}  {'proxy':>7}  {'mean':>7}  {'std':>7}  {'95% CI':>15}  seeds")
    for entry in entries:
        name = entry["label"] + (" [baseline]" if entry["kind"] == "baseline" else "")
        interval = f"{entry['ci95'][0]:.4f}..{entry['ci95'][1]:.4f}" if entry["ci95"] else "-"
        lines.append(f"  {name:<{width}}  {_number(entry['proxy_score'])}  {_number(entry['mean'])}  "
                     f"{_number(entry['std'])}  {interval:>15}  {len(entry['seeds'])}")
    fidelity = summary["fidelity"]
    if fidelity["spearman"] is not None:
        interval = fidelity["spearman_ci95"]
        bootstrap = f" (bootstrap 95% CI {interval[0]:.2f}..{interval[1]:.2f})" if interval else ""
        lines.append(f"proxy fidelity over {fidelity['n']} configurations: Spearman {fidelity['spearman']:.2f}"
                     f"{bootstrap}, Kendall {fidelity['kendall']:.2f}")
        if "warning" in fidelity:
            lines.append(f"warning: {fidelity['warning']}")
    lines += [f"verdict: {line}" for line in summary["verdict"].splitlines()]
    return "\n".join(lines)


def _number(value: float | None) -> str:
    return f"{value:7.4f}" if value is not None else f"{'-':>7}"
