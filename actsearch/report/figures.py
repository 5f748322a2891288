"""Interactive (plotly) figures of a report.

Optuna's ``optuna.visualization`` draws the history, importances, learning curves and Pareto front;
this module adds what Optuna lacks: the objective per activation family, the corruption breakdown
of the top configurations and the confirm stage (values over seeds, proxy against confirmed).

Example:
    >>> import optuna
    >>> from actsearch.report.data import collect_report_data
    >>> study = optuna.create_study()
    >>> study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    >>> len(history_figures(study, collect_report_data(study)))
    1
"""

from __future__ import annotations

import optuna
import plotly.graph_objects as go
from optuna.visualization import (
    plot_intermediate_values,
    plot_optimization_history,
    plot_param_importances,
    plot_pareto_front,
)
from plotly.subplots import make_subplots

from actsearch.report.data import ReportData, importance_evaluator

__all__ = [
    "confirm_figures",
    "corruption_figure",
    "family_figure",
    "history_figures",
    "importance_figures",
    "learning_curve_figure",
    "fidelity_text",
    "pareto_figure",
]


def history_figures(study: optuna.Study, data: ReportData) -> tuple[go.Figure, ...]:
    """One optimization history per objective (Optuna draws the best-so-far line for one objective)."""
    if not data.multi_objective:
        figure = plot_optimization_history(study, target_name=data.objectives[0])
        return (figure.update_layout(title=f"Optimization history: {data.objectives[0]}"),)
    return tuple(
        plot_optimization_history(study, target=lambda t, i=i: t.values[i], target_name=name).update_layout(
            title=f"Optimization history: {name} ({data.directions[i]})"
        )
        for i, name in enumerate(data.objectives)
    )


def importance_figures(study: optuna.Study, data: ReportData) -> tuple[go.Figure, ...]:
    """fANOVA parameter importances, one figure per objective that has them."""
    return tuple(
        plot_param_importances(
            study, evaluator=importance_evaluator(), target=lambda t, i=i: t.values[i], target_name=name
        ).update_layout(title=f"Parameter importances for {name}")
        for i, name in enumerate(data.objectives)
        if name in (data.importances or {})
    )


def family_figure(data: ReportData) -> go.Figure:
    """Box and points of each objective per activation family, best family (by mean) first; families only pruned
    or failed come last, empty; each is named with its counts of complete, pruned and failed trials."""
    groups = data.family_trials()
    order = data.family_order()
    figure = make_subplots(rows=1, cols=len(data.objectives), subplot_titles=data.objectives)
    for column, name in enumerate(data.objectives, start=1):
        index = column - 1
        for family in order:
            trials = groups.get(family, [])
            figure.add_trace(
                go.Box(
                    x=[data.family_title(family)] * max(len(trials), 1),
                    y=[t.values[index] for t in trials] or [None],
                    name=data.family_title(family),
                    boxpoints="all",
                    jitter=0.4,
                    pointpos=0,
                    boxmean=True,
                    text=[f"trial {t.number}" for t in trials],
                    hovertemplate="%{text}<br>%{y}<extra>" + family + "</extra>",
                    legendgroup=family,
                    showlegend=False,
                ),
                row=1,
                col=column,
            )
        figure.update_yaxes(title_text=f"{name} ({data.directions[index]})", row=1, col=column)
    return figure.update_layout(
        title="Objective by activation family (completed trials; dashed line: mean; counts of every outcome)"
    )


def learning_curve_figure(study: optuna.Study, data: ReportData) -> go.Figure:
    """Validation metric per epoch, each trial named by its activations; pruned trials dashed.

    Uses Optuna's intermediate-value plot when trials reported intermediate values (single-objective
    searches), else the per-epoch history the trainer stored in ``user_attrs["result"]``.
    """
    pruned = {c.number for c in data.curves if c.state == "PRUNED"}
    if any(c.source == "intermediate" for c in data.curves):
        figure = plot_intermediate_values(study)
        labels = {f"Trial{c.number}": c for c in data.curves}
        for trace in figure.data:
            curve = labels.get(trace.name)
            if curve is not None:
                trace.update(name=_curve_name(curve, pruned))
                if curve.number in pruned:
                    trace.update(line={"dash": "dash"})
    else:
        figure = go.Figure(
            [
                go.Scatter(
                    x=curve.steps,
                    y=curve.values,
                    mode="lines+markers",
                    name=_curve_name(curve, pruned),
                    line={"dash": "dash" if curve.number in pruned else "solid"},
                )
                for curve in data.curves
            ]
        )
    return figure.update_layout(
        title="Learning curves (dashed: pruned trials)", xaxis_title="Epoch", yaxis_title="val_accuracy"
    )


def _curve_name(curve, pruned: set[int]) -> str:
    """``la_silu (trial 4, pruned)``: a learning curve named by its activations."""
    return f"{curve.label} (trial {curve.number}{', pruned' if curve.number in pruned else ''})"


def pareto_figure(study: optuna.Study, data: ReportData) -> go.Figure:
    return plot_pareto_front(study, target_names=list(data.objectives)).update_layout(
        title="Pareto front: " + " vs ".join(f"{n} ({d})" for n, d in zip(data.objectives, data.directions))
    )


def corruption_figure(data: ReportData) -> go.Figure:
    """Accuracy per corruption category and per severity (clean accuracy as severity 0) of top trials."""
    rows = data.corruption()
    figure = make_subplots(rows=1, cols=2, subplot_titles=("Per category", "Per severity (0 = clean)"))
    for row in rows:
        label = f"#{row['rank']} {row['label']} (trial {row['number']})"
        categories = list(row["per_category"])
        figure.add_trace(
            go.Bar(x=categories, y=[row["per_category"][c] for c in categories], name=label, legendgroup=label),
            row=1,
            col=1,
        )
        severities = ([("0", row["clean"])] if row["clean"] is not None else []) + list(row["per_severity"].items())
        figure.add_trace(
            go.Scatter(
                x=[s for s, _ in severities],
                y=[v for _, v in severities],
                mode="lines+markers",
                name=label,
                legendgroup=label,
                showlegend=False,
            ),
            row=1,
            col=2,
        )
    figure.update_yaxes(title_text="accuracy", row=1, col=1)
    figure.update_xaxes(title_text="severity", type="category", row=1, col=2)
    return figure.update_layout(title="Corruption breakdown of the top configurations", barmode="group")


def confirm_figures(data: ReportData) -> tuple[go.Figure, go.Figure]:
    """The confirm stage: each configuration's values over seeds (box and points), and the search's proxy
    score against the confirmed mean with the rank correlations."""
    confirm = data.confirm
    objective = confirm["objectives"][0]["name"]
    entries = confirm["finalists"] + confirm["baselines"]
    strip = go.Figure()
    for entry in entries:
        name = entry["label"] + (" [baseline]" if entry["kind"] == "baseline" else "")
        strip.add_trace(go.Box(y=entry["values"][objective], name=name, boxpoints="all", jitter=0.3, pointpos=0,
                               boxmean=True, text=[f"seed {seed}" for seed in entry["seeds"]],
                               hovertemplate="%{text}<br>%{y}<extra></extra>", showlegend=False))
    strip.update_layout(title=f"Confirmed {objective} on {confirm['evaluate']} over seeds (dashed line: mean)",
                        yaxis_title=objective)
    scored = [entry for entry in entries if entry["proxy_score"] is not None and entry["mean"] is not None]
    scatter = go.Figure(go.Scatter(
        x=[entry["proxy_score"] for entry in scored],
        y=[entry["mean"] for entry in scored],
        error_y={"type": "data", "symmetric": False,
                 "array": [(entry["ci95"] or [entry["mean"]] * 2)[1] - entry["mean"] for entry in scored],
                 "arrayminus": [entry["mean"] - (entry["ci95"] or [entry["mean"]] * 2)[0] for entry in scored]},
        mode="markers+text", text=[entry["label"] for entry in scored], textposition="top center",
    ))
    scatter.update_layout(title=f"Proxy score against confirmed mean ({fidelity_text(confirm['fidelity'])})",
                          xaxis_title=f"proxy {objective} (search)",
                          yaxis_title=f"confirmed mean {objective} (95% CI)")
    return strip, scatter


def fidelity_text(fidelity: dict) -> str:
    """``Spearman 0.80, Kendall 0.67, n=4`` (or why there is none)."""
    if fidelity["spearman"] is None:
        return f"no rank correlation: {fidelity['n']} configurations with a proxy score"
    return f"Spearman {fidelity['spearman']:.2f}, Kendall {fidelity['kendall']:.2f}, n={fidelity['n']}"
