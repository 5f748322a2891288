"""Static PNG figures of a report (matplotlib), for papers and terminals.

Figures are drawn with matplotlib's object API on the Agg canvas rather than through ``pyplot`` or
``optuna.visualization.matplotlib``: those keep global figure state and change the global style sheet,
which a library must not do to its caller.

Example:
    >>> import optuna, tempfile
    >>> from pathlib import Path
    >>> from actsearch.report.data import collect_report_data
    >>> study = optuna.create_study()
    >>> study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    >>> sorted(write_pngs(collect_report_data(study), Path(tempfile.mkdtemp())))
    ['families', 'history']
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from actsearch.report.data import ReportData

__all__ = ["PNG_NAMES", "write_pngs"]

PNG_NAMES = ("history", "families", "learning_curves", "pareto", "corruption", "confirm")
DPI = 120
_COLOURS = tuple(f"tab:{name}" for name in ("blue", "orange", "green", "red", "purple", "brown", "pink", "olive",
                                              "cyan", "gray"))
PANEL_SIZE = (6.0, 4.2)  # inches per objective panel


def write_pngs(data: ReportData, folder: Path) -> dict[str, Path]:
    """Write every figure that applies to this study as ``folder/<name>.png``; returns name -> path."""
    figures = {"history": _history(data), "families": _families(data)}
    if data.curves:
        figures["learning_curves"] = _learning_curves(data)
    if len(data.objectives) == 2:
        figures["pareto"] = _pareto(data)
    if data.corruption():
        figures["corruption"] = _corruption(data)
    if data.confirm is not None:
        figures["confirm"] = _confirm(data.confirm)
    paths = {}
    for name, figure in figures.items():
        paths[name] = folder / f"{name}.png"
        FigureCanvasAgg(figure).print_png(paths[name])
    return paths


def _panels(count: int) -> tuple[Figure, list]:
    figure = Figure(figsize=(PANEL_SIZE[0] * count, PANEL_SIZE[1]), dpi=DPI, layout="constrained")
    axes = figure.subplots(1, count, squeeze=False)[0]
    return figure, list(axes)


def _history(data: ReportData) -> Figure:
    figure, axes = _panels(len(data.objectives))
    numbers = np.array([t.number for t in data.complete])
    for index, (axis, name, direction) in enumerate(zip(axes, data.objectives, data.directions)):
        values = np.array([t.values[index] for t in data.complete])
        best = np.maximum.accumulate(values) if direction == "maximize" else np.minimum.accumulate(values)
        axis.scatter(numbers, values, s=18, alpha=0.7, label="completed trial")
        axis.step(numbers, best, where="post", color="tab:red", label="best so far")
        axis.set(title=f"Optimization history: {name}", xlabel="trial", ylabel=f"{name} ({direction})")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.legend(loc="best", fontsize="small")
        axis.grid(alpha=0.3)
    return figure


def _families(data: ReportData) -> Figure:
    """Box and points per family (completed trials); every family that ran is named with its outcome counts."""
    figure, axes = _panels(len(data.objectives))
    groups = data.family_trials()
    order = data.family_order()
    ticks = [_family_tick(data.family_counts().get(family, {}), family) for family in order]
    jitter = np.random.default_rng(0)
    for index, (axis, name, direction) in enumerate(zip(axes, data.objectives, data.directions)):
        positions = np.arange(1, len(order) + 1)
        values = [np.array([t.values[index] for t in groups.get(family, [])]) for family in order]
        drawn = [(position, found) for position, found in zip(positions, values) if len(found)]
        if drawn:
            axis.boxplot([found for _, found in drawn], positions=[position for position, _ in drawn], widths=0.5,
                         showmeans=True, showfliers=False)
        for position, found in drawn:
            offsets = jitter.uniform(-0.15, 0.15, size=len(found))
            axis.scatter(position + offsets, found, s=14, alpha=0.6, color="tab:blue")
        for position, found in zip(positions, values):
            if not len(found):
                axis.annotate("none completed", (position, 0.03), xycoords=("data", "axes fraction"), ha="center",
                              fontsize="x-small", color="tab:gray")
        axis.set_xticks(positions, ticks, rotation=30, ha="right", fontsize="small")
        if not order:
            axis.text(0.5, 0.5, "no trial recorded its activations", ha="center", transform=axis.transAxes)
        axis.set_xlim(0.5, len(order) + 0.5 if order else 1.5)
        axis.set(title=f"{name} by activation family", ylabel=f"{name} ({direction})")
        axis.grid(alpha=0.3, axis="y")
    return figure


def _family_tick(counts: dict[str, int], family: str) -> str:
    """``la_silu`` over ``5 ok / 2 pruned / 1 failed``."""
    complete, pruned, failed = (counts.get(key, 0) for key in ("complete", "pruned", "failed"))
    return f"{family}\n{complete} ok / {pruned} pruned / {failed} failed"


def _learning_curves(data: ReportData) -> Figure:
    """One colour per activation label (the legend names them), pruned trials dashed."""
    figure, (axis,) = _panels(1)
    labels = sorted({curve.label for curve in data.curves})
    colours = {label: _COLOURS[i % len(_COLOURS)] for i, label in enumerate(labels)}
    for curve in data.curves:
        pruned = curve.state == "PRUNED"
        axis.plot(curve.steps, curve.values, linestyle="--" if pruned else "-", color=colours[curve.label],
                  alpha=0.6, marker=".")
    legend = [Line2D([], [], color=colours[label], label=label) for label in labels]
    if any(curve.state == "PRUNED" for curve in data.curves):
        legend.append(Line2D([], [], color="tab:gray", linestyle="--", label="pruned (dashed)"))
    axis.legend(handles=legend, loc="best", fontsize="small", ncols=2 if len(legend) > 8 else 1)
    # The search reports val_accuracy per epoch, and the stored history holds it too.
    axis.set(title="Learning curves", xlabel="epoch", ylabel="val_accuracy")
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    axis.grid(alpha=0.3)
    return figure


def _pareto(data: ReportData) -> Figure:
    figure, (axis,) = _panels(1)
    every = np.array([t.values for t in data.complete])
    front = np.array(sorted(t.values for t in data.pareto))
    axis.scatter(every[:, 0], every[:, 1], s=18, color="tab:gray", alpha=0.6, label="completed trial")
    axis.plot(front[:, 0], front[:, 1], "o-", color="tab:red", label="Pareto front")
    axis.set(
        title="Pareto front",
        xlabel=f"{data.objectives[0]} ({data.directions[0]})",
        ylabel=f"{data.objectives[1]} ({data.directions[1]})",
    )
    axis.legend(loc="best", fontsize="small")
    axis.grid(alpha=0.3)
    return figure


def _corruption(data: ReportData) -> Figure:
    rows = data.corruption()
    figure, (by_category, by_severity) = _panels(2)
    categories = sorted({c for row in rows for c in row["per_category"]})
    width = 0.8 / len(rows)
    for offset, row in enumerate(rows):
        label = f"#{row['rank']} {row['label']} (trial {row['number']})"
        heights = [row["per_category"].get(c, np.nan) for c in categories]
        by_category.bar(np.arange(len(categories)) + offset * width - 0.4 + width / 2, heights, width, label=label)
        severities = ([("0", row["clean"])] if row["clean"] is not None else []) + list(row["per_severity"].items())
        by_severity.plot([s for s, _ in severities], [v for _, v in severities], "o-", label=label)
    by_category.set_xticks(np.arange(len(categories)), categories, rotation=30, ha="right")
    by_category.set(title="Accuracy per corruption category", ylabel="accuracy")
    by_severity.set(title="Accuracy per severity (0 = clean)", xlabel="severity", ylabel="accuracy")
    for axis in (by_category, by_severity):
        axis.legend(loc="best", fontsize="x-small")
    for axis in (by_category, by_severity):
        axis.grid(alpha=0.3, axis="y")
    return figure


def _confirm(confirm: dict) -> Figure:
    figure, (by_seed, fidelity) = _panels(2)
    objective = confirm["objectives"][0]["name"]
    entries = confirm["finalists"] + confirm["baselines"]
    positions = np.arange(1, len(entries) + 1)
    jitter = np.random.default_rng(0)
    values = [entry["values"][objective] for entry in entries]
    if all(values):
        by_seed.boxplot(values, positions=positions, widths=0.5, showmeans=True, showfliers=False)
    for position, entry_values in zip(positions, values):
        by_seed.scatter(position + jitter.uniform(-0.12, 0.12, len(entry_values)), entry_values, s=16, alpha=0.7)
    labels = [entry["label"] + (" [b]" if entry["kind"] == "baseline" else "") for entry in entries]
    by_seed.set_xticks(positions, labels, rotation=30, ha="right")
    by_seed.set(title=f"Confirmed {objective} on {confirm['evaluate']} per seed", ylabel=objective)
    by_seed.grid(alpha=0.3, axis="y")
    scored = [entry for entry in entries if entry["proxy_score"] is not None and entry["mean"] is not None]
    for entry in scored:
        low, high = entry["ci95"] or (entry["mean"], entry["mean"])
        fidelity.errorbar(entry["proxy_score"], entry["mean"], yerr=[[entry["mean"] - low], [high - entry["mean"]]],
                          fmt="o", capsize=3)
        fidelity.annotate(entry["label"], (entry["proxy_score"], entry["mean"]), fontsize="x-small",
                          textcoords="offset points", xytext=(4, 4))
    rho = confirm["fidelity"]
    correlation = "" if rho["spearman"] is None else f": Spearman {rho['spearman']:.2f}, Kendall {rho['kendall']:.2f}"
    fidelity.set(title=f"Proxy against confirmed{correlation}", xlabel=f"proxy {objective} (search)",
                 ylabel=f"confirmed mean {objective} (95% CI)")
    fidelity.grid(alpha=0.3)
    return figure
