"""Assemble ``report.html``: one self-contained page, plotly.js embedded once in the head.

Each :class:`Section` becomes ``<section id="KEY">`` with its figures as ``<div id="figure-KEY">`` (or
``figure-KEY-0``, ``figure-KEY-1``, ... when a section has one figure per objective) and its note when
the section does not apply to this study.

Example:
    >>> import plotly.graph_objects as go
    >>> page = render_html("demo", [Section("history", "History", figures=(go.Figure(),))], header="")
    >>> 'id="figure-history"' in page
    True
"""

from __future__ import annotations

import html
import json
from collections import Counter
from dataclasses import dataclass

import plotly.graph_objects as go
import plotly.offline

from actsearch.report.data import ReportData, describe_config

__all__ = ["Section", "confirm_table", "render_html", "study_header", "top_trials_table"]

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; padding: 0 1rem; color: #222; }
h1 { margin-bottom: 0.2rem; }
section { margin-top: 2.5rem; }
.note { color: #555; font-style: italic; }
.figure { margin: 1rem 0; }
table { border-collapse: collapse; width: 100%; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
dl { display: grid; grid-template-columns: max-content auto; gap: 0.2rem 1rem; }
dt { font-weight: bold; }
dd { margin: 0; }
pre { white-space: pre-wrap; margin: 0.3rem 0; }
"""


@dataclass(frozen=True)
class Section:
    """A titled part of the report: figures, extra HTML, and a note (why it is empty, or a caveat)."""

    key: str
    title: str
    figures: tuple[go.Figure, ...] = ()
    note: str | None = None
    description: str | None = None
    body: str = ""


def render_html(title: str, sections: list[Section], *, header: str) -> str:
    """The whole page; ``header`` is trusted HTML placed under the title."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{STYLE}</style>",
        # plotly.js is embedded once here, so the page works offline and figures stay small.
        f'<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script>',
        "</head>",
        "<body>",
        f"<h1>{html.escape(title)}</h1>",
        header,
        "<nav><ul>",
        *(f'<li><a href="#{s.key}">{html.escape(s.title)}</a></li>' for s in sections),
        "</ul></nav>",
        *(_render_section(s) for s in sections),
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


def _render_section(section: Section) -> str:
    parts = [f'<section id="{section.key}">', f"<h2>{html.escape(section.title)}</h2>"]
    if section.description:
        parts.append(f"<p>{html.escape(section.description)}</p>")
    if section.note:
        parts.append(f'<p class="note">{html.escape(section.note)}</p>')
    for index, figure in enumerate(section.figures):
        div_id = f"figure-{section.key}" if len(section.figures) == 1 else f"figure-{section.key}-{index}"
        figure_html = figure.to_html(
            full_html=False,
            include_plotlyjs=False,
            div_id=div_id,
            default_height="480px",
            config={"displaylogo": False, "responsive": True},
        )
        parts.append(f'<div class="figure">{figure_html}</div>')
    parts.append(section.body)
    parts.append("</section>")
    return "\n".join(parts)


def study_header(data: ReportData) -> str:
    """Study name, objectives, trial counts and the task the search ran on."""
    states = Counter(t.state.name.lower() for t in data.trials)
    counts = ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
    objectives = ", ".join(f"{n} ({d})" for n, d in zip(data.objectives, data.directions))
    rows = [("Study", data.study_name), ("Objectives", objectives), ("Trials", f"{len(data.trials)}: {counts}")]
    task = data.metadata.get("task")
    if isinstance(task, dict):
        rows.append(("Task", ", ".join(f"{k}={v}" for k, v in task.items() if v is not None)))
    if data.metadata.get("study_file"):
        rows.append(("Study file", str(data.metadata["study_file"])))
    items = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(str(v))}</dd>" for k, v in rows)
    return f"<dl>{items}</dl>"


def top_trials_table(data: ReportData) -> str:
    """Top trials, best first, with their values and decoded configuration (full JSON folded)."""
    head = ["Rank", "Trial", *data.objectives, "Families", "Configuration"]
    lines = ['<table id="table-top-trials">', "<thead><tr>"]
    lines += [f"<th>{html.escape(h)}</th>" for h in head]
    lines.append("</tr></thead><tbody>")
    for rank, trial in enumerate(data.top, start=1):
        label = str(trial.number)
        if "baseline" in trial.user_attrs:
            label += f" (baseline {trial.user_attrs['baseline']})"
        cells = [f'<td class="number">{rank}</td>', f"<td>{html.escape(label)}</td>"]
        cells += [f'<td class="number">{value:.6g}</td>' for value in trial.values]
        cells.append(f"<td>{html.escape(', '.join(data.families[trial.number]))}</td>")
        config = json.dumps(trial.user_attrs.get("config", trial.params), indent=2, default=str)
        cells.append(
            f"<td>{html.escape(describe_config(trial))}"
            f"<details><summary>JSON</summary><pre>{html.escape(config)}</pre></details></td>"
        )
        lines.append("<tr>" + "".join(cells) + "</tr>")
    lines.append("</tbody></table>")
    return "\n".join(lines)


def confirm_table(confirm: dict) -> str:
    """One row per confirmed configuration: proxy score, mean, std, 95% CI, seeds and the comparisons."""
    head = ["Configuration", "Kind", "Proxy", "Mean", "Std", "95% CI", "Seeds", "Against baselines"]
    lines = ['<table id="table-confirm">', "<thead><tr>"]
    lines += [f"<th>{html.escape(h)}</th>" for h in head]
    lines.append("</tr></thead><tbody>")
    for entry in confirm["finalists"] + confirm["baselines"]:
        interval = f"{entry['ci95'][0]:.4g}..{entry['ci95'][1]:.4g}" if entry["ci95"] else "-"
        against = "; ".join(
            f"{c['baseline']}: {c['diff']:+.4g}" + (f" (p={c['p_holm']:.2g} Holm)" if c["p_holm"] is not None else "")
            for c in entry["vs_baselines"] if c["diff"] is not None
        )
        cells = [entry["label"], entry["kind"], _maybe(entry["proxy_score"]), _maybe(entry["mean"]),
                 _maybe(entry["std"]), interval, str(len(entry["seeds"])), against or "-"]
        lines.append("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in cells) + "</tr>")
    lines.append("</tbody></table>")
    return "\n".join(lines)


def _maybe(value: float | None) -> str:
    return f"{value:.4g}" if value is not None else "-"
