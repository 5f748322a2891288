"""Write a study's report: ``report.html``, PNG figures and ``summary.json``, from its storage alone.

The HTML page is self-contained (plotly.js embedded once) and holds the optimization history,
parameter importances, the objective per activation family, learning curves, the Pareto front (several
objectives), the corruption breakdown of the top configurations and a table of the top trials. Sections
that do not apply to the study (one objective: no Pareto front; no corrupted evaluation: no breakdown)
keep their heading with a short note saying why they are empty.

Example:
    >>> import optuna, tempfile
    >>> study = optuna.create_study(direction="maximize")
    >>> study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=4)
    >>> paths = write_report(study, tempfile.mkdtemp(), top=3)
    >>> paths.html.name, paths.summary.name
    ('report.html', 'summary.json')
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import optuna

from actsearch.errors import ConfigError
from actsearch.report.data import ReportData, collect_report_data

if TYPE_CHECKING:
    from actsearch.report.html import Section

__all__ = ["ReportPaths", "write_report"]

HTML_NAME = "report.html"
SUMMARY_NAME = "summary.json"


@dataclass(frozen=True)
class ReportPaths:
    """Where a report was written; ``figures`` maps a figure name (e.g. "history") to its PNG."""

    out_dir: Path
    html: Path
    summary: Path
    figures: dict[str, Path] = field(default_factory=dict)

    def files(self) -> list[Path]:
        return [self.html, self.summary, *self.figures.values()]


def write_report(
    study: optuna.Study, out_dir: str | os.PathLike[str], *, top: int = 10, confirm: dict | None = None
) -> ReportPaths:
    """Write the report of ``study`` into ``out_dir`` (created if needed) and return the file paths.

    ``top`` is the number of best trials shown in the table and the corruption breakdown; ``confirm`` the
    confirm stage's summary (:func:`actsearch.study.confirm_summary_of`), shown in its own section. Files are
    built in a scratch folder and moved into ``out_dir`` only once all of them exist, so a failure leaves
    ``out_dir`` as it was. Raises ConfigError when no trial has completed.
    """
    # plotly and matplotlib take about a second to import: load them only when a report is written.
    from actsearch.report.html import render_html, study_header
    from actsearch.report.png import PNG_NAMES, write_pngs

    data = collect_report_data(study, top=top, confirm=confirm)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"report output '{out}' is a file; give a folder (it is created if missing)")
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(prefix=".report-", dir=out))
    except OSError as error:
        problem = error.strerror or error
        raise ConfigError(f"cannot write the report into '{out}': {problem}; give a writable folder") from error
    try:
        pngs = write_pngs(data, scratch)
        page = render_html(f"actsearch report: {data.study_name}", _sections(study, data), header=study_header(data))
        (scratch / HTML_NAME).write_text(page, encoding="utf-8")
        summary = json.dumps(data.summary(), indent=2, allow_nan=False)
        (scratch / SUMMARY_NAME).write_text(summary + "\n", encoding="utf-8")
        for stale in set(PNG_NAMES) - set(pngs):
            (out / f"{stale}.png").unlink(missing_ok=True)
        for name in [HTML_NAME, SUMMARY_NAME, *(p.name for p in pngs.values())]:
            os.replace(scratch / name, out / name)
    except BaseException:
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return ReportPaths(
        out_dir=out,
        html=out / HTML_NAME,
        summary=out / SUMMARY_NAME,
        figures={name: out / path.name for name, path in pngs.items()},
    )


def _sections(study: optuna.Study, data: ReportData) -> list[Section]:
    from actsearch.report import figures
    from actsearch.report.html import Section, confirm_table, top_trials_table

    return [
        Section("history", "Optimization history", figures.history_figures(study, data)),
        Section(
            "importances",
            "Parameter importances",
            figures.importance_figures(study, data),
            note=data.notes.get("param_importances"),
            description="fANOVA importance of each searched parameter for each objective.",
        ),
        Section(
            "families",
            "Objective by activation family",
            (figures.family_figure(data),),
            description="Completed trials per activation family, best family first; a trial whose plan uses "
            "several families (per-stage placement) counts once under each of them.",
        ),
        Section(
            "learning-curves",
            "Learning curves",
            (figures.learning_curve_figure(study, data),) if data.curves else (),
            note=data.notes.get("learning_curves"),
        ),
        Section(
            "pareto",
            "Pareto front",
            (figures.pareto_figure(study, data),) if len(data.objectives) in (2, 3) else (),
            note=data.notes.get("pareto"),
        ),
        Section(
            "corruption",
            "Corruption breakdown",
            (figures.corruption_figure(data),) if "corruption" not in data.notes else (),
            note=data.notes.get("corruption"),
            description=f"Accuracy under corruption of the top {len(data.top)} configurations that have it.",
        ),
        Section("top-trials", f"Top {len(data.top)} trials", body=top_trials_table(data), description=_ranking(data)),
        Section(
            "confirm",
            "Confirm stage",
            figures.confirm_figures(data) if data.confirm is not None else (),
            note=data.notes.get("confirm") or (data.confirm or {}).get("fidelity", {}).get("warning"),
            description=_confirm_description(data.confirm) if data.confirm is not None else None,
            body=confirm_table(data.confirm) if data.confirm is not None else "",
        ),
    ]


def _confirm_description(confirm: dict) -> str:
    return (f"The finalists and baselines re-trained on seeds {confirm['seeds']}, scored on {confirm['evaluate']}; "
            f"comparisons are paired by seed (t-test, Wilcoxon; Holm over the finalists). Verdict: "
            + confirm["verdict"].replace("\n", "; "))


def _ranking(data: ReportData) -> str:
    if not data.multi_objective:
        return f"Completed trials ranked by {data.objectives[0]} ({data.directions[0]})."
    return (
        "Completed trials ranked by Pareto front (non-dominated first), then by "
        f"{data.objectives[0]} ({data.directions[0]}) within a front."
    )
