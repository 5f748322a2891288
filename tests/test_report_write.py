"""write_report on small hand-built studies: every file, valid HTML, summary.json agreeing with the study."""

from __future__ import annotations

import json
import random
import statistics
from html.parser import HTMLParser
from pathlib import Path

import optuna
import plotly.offline
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState, create_trial

from actsearch.errors import ConfigError
from actsearch.report import ReportPaths, html as report_html, write_report

optuna.logging.set_verbosity(optuna.logging.WARNING)

FAMILIES = ["relu", "gelu", "layeract", "anact"]
LABELS = {"relu": "relu", "gelu": "gelu", "layeract": "la_silu", "anact": "anact(silu)"}  # as the report names them
CATEGORIES = ["noise", "blur", "weather", "digital"]
DISTRIBUTIONS = {
    "stem.family": CategoricalDistribution(FAMILIES),
    "stage1.family": CategoricalDistribution(FAMILIES),
    "train.lr": FloatDistribution(1e-3, 1.0, log=True),
}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
VOID_TAGS = {"meta", "br", "hr", "img", "input", "link", "wbr", "col", "area", "base", "source"}


def _result(accuracy: float, epochs: int, rng: random.Random) -> dict:
    per_category = {c: round(accuracy - rng.uniform(0.05, 0.3), 4) for c in CATEGORIES}
    per_severity = {str(s): round(accuracy - 0.05 * s, 4) for s in range(1, 6)}
    history = [{"epoch": e, "val_accuracy": accuracy * e / epochs, "train_loss": 2.0 / e} for e in range(1, epochs + 1)]
    return {
        "val_accuracy": accuracy,
        "test_accuracy": None,
        "corrupted": {
            "mean": statistics.fmean(per_category.values()),
            "per_category": per_category,
            "per_severity": per_severity,
            "per_corruption": {},
        },
        "corrupted_accuracy": statistics.fmean(per_category.values()),
        "epochs_completed": epochs,
        "history": history,
        "n_parameters": 1000,
        "images_per_second": 100.0,
        "latency_ms": 1.0,
        "seconds": 1.0,
    }


def build_study(objectives: list[tuple[str, str]], storage=None, *, corrupted: bool = True) -> optuna.Study:
    """14 complete, 3 pruned and 2 failed trials with the attributes the search driver writes."""
    rng = random.Random(0)
    study = optuna.create_study(
        study_name="demo", storage=storage, directions=[d for _, d in objectives], load_if_exists=False
    )
    study.set_user_attr(
        "actsearch",
        {
            "study_file": "studies/demo.yaml",
            "name": "demo",
            "objectives": [{"name": n, "direction": d} for n, d in objectives],
            "task": {"dataset": "digits", "network": "resnet20", "epochs": 3},
            "version": "0.1.0",
        },
    )
    single = len(objectives) == 1
    for number in range(19):
        stem, stage1 = FAMILIES[number % 4], FAMILIES[(number // 4) % 4]
        lr = 10 ** rng.uniform(-3, 0)
        accuracy = round(0.5 + 0.1 * FAMILIES.index(stem) / 3 + rng.uniform(0, 0.1), 4)
        params = {"stem.family": stem, "stage1.family": stage1, "train.lr": lr}
        attrs = {
            "families": sorted({stem, stage1}),
            "config": {
                "plan": {
                    "default": {"family": stem, "params": {}},
                    "rules": [{"pattern": "stage1", "spec": {"family": stage1, "params": {}}}],
                },
                "train": {"lr": lr},
            },
            "attempt": 1,
        }
        state, values, epochs = TrialState.COMPLETE, None, 3
        if number in (4, 9, 15):
            state, epochs = TrialState.PRUNED, 1
        elif number in (6, 12):
            state, epochs = TrialState.FAIL, 2
            attrs["fail_reason"] = f"diverged: loss became nan at epoch {epochs}"
        if state != TrialState.FAIL:
            attrs["result"] = _result(accuracy, epochs, rng)
            if not corrupted:
                attrs["result"]["corrupted"] = None
        if state == TrialState.COMPLETE:
            values = [accuracy] if single else [accuracy, round(1.0 + 5 * accuracy + rng.uniform(-0.5, 0.5), 4)]
        if number == 3:
            attrs["baseline"] = "anact <all>"
        reports = single and state != TrialState.FAIL  # the driver reports per epoch for one objective only
        intermediate = {e: accuracy * e / 3 for e in range(1, epochs + 1)} if reports else {}
        study.add_trial(
            create_trial(
                state=state,
                values=values,
                params=params,
                distributions=DISTRIBUTIONS,
                user_attrs=attrs,
                intermediate_values=intermediate,
            )
        )
    return study


class StrictHTML(HTMLParser):
    """Records ids, classes of notes and every unbalanced tag."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if "id" in attributes:
            self.ids.append(attributes["id"])
        if tag == "script" and "src" not in attributes:
            self.scripts += 1
        if tag not in VOID_TAGS:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()


def parse_html(path: Path) -> StrictHTML:
    parser = StrictHTML()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()
    assert parser.errors == []
    assert parser.stack == []
    return parser


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 5000


def assert_plotly_embedded_once(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(plotly.offline.get_plotlyjs()[:300]) == 1
    assert "<script src=" not in text  # nothing fetched: the page works offline


def completed(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return [t for t in study.get_trials() if t.state == TrialState.COMPLETE]


@pytest.fixture(scope="module")
def single(tmp_path_factory) -> tuple[optuna.Study, ReportPaths]:
    study = build_study([("val_accuracy", "maximize")])
    return study, write_report(study, tmp_path_factory.mktemp("single") / "report", top=5)


@pytest.fixture(scope="module")
def double(tmp_path_factory) -> tuple[optuna.Study, ReportPaths]:
    study = build_study([("val_accuracy", "maximize"), ("latency", "minimize")])
    return study, write_report(study, tmp_path_factory.mktemp("double"), top=4)


def test_single_objective_report_writes_every_file_and_figure(single):
    _, paths = single
    assert sorted(paths.figures) == ["corruption", "families", "history", "learning_curves"]
    for image in paths.figures.values():
        assert_png(image)
    assert not (paths.out_dir / "pareto.png").exists()
    assert sorted(p.name for p in paths.out_dir.iterdir()) == sorted(p.name for p in paths.files())
    parsed = parse_html(paths.html)
    for figure in ["history", "importances", "families", "learning-curves", "corruption"]:
        assert figure in parsed.ids and f"figure-{figure}" in parsed.ids
    assert "pareto" in parsed.ids and not any(i.startswith("figure-pareto") for i in parsed.ids)
    assert "table-top-trials" in parsed.ids
    assert_plotly_embedded_once(paths.html)
    page = paths.html.read_text(encoding="utf-8")
    assert "no Pareto front: the study has a single objective" in page
    assert ", pruned)" in page
    assert "(baseline anact &lt;all&gt;)" in page and "anact <all>" not in page


def test_single_objective_summary_agrees_with_study(single):
    study, paths = single
    summary = json.loads(paths.summary.read_text())
    done = completed(study)
    assert summary["trials"]["total"] == 19
    assert summary["trials"]["by_state"] == {"COMPLETE": 14, "PRUNED": 3, "FAIL": 2, "RUNNING": 0, "WAITING": 0}
    assert summary["trials"]["fail_reasons"] == {"diverged": 2}
    best = max(done, key=lambda t: t.value)
    assert [b["number"] for b in summary["best_trials"]] == [study.best_trial.number] == [best.number]
    assert summary["best_trials"][0]["values"] == {"val_accuracy": best.value}
    assert summary["best_trials"][0]["config"] == best.user_attrs["config"]
    assert summary["pareto_front"] is None
    assert set(summary["notes"]) == {"pareto", "confirm"}  # no confirm stage ran
    assert summary["confirm"] is None
    ranked = sorted(done, key=lambda t: -t.value)[:5]
    assert [t["number"] for t in summary["top_trials"]] == [t.number for t in ranked]
    assert [t["rank"] for t in summary["top_trials"]] == [1, 2, 3, 4, 5]
    assert [t.get("baseline") for t in summary["top_trials"]].count("anact <all>") == 1
    for family in FAMILIES:
        values = [t.value for t in done if family in t.user_attrs["families"]]
        stats = summary["families"][LABELS[family]]
        assert stats["count"] == len(values)
        assert stats["objectives"]["val_accuracy"]["mean"] == pytest.approx(statistics.fmean(values))
        assert stats["objectives"]["val_accuracy"]["median"] == pytest.approx(statistics.median(values))
        assert stats["objectives"]["val_accuracy"]["max"] == pytest.approx(max(values))
        assert stats["pruned"] == sum(
            family in t.user_attrs["families"] for t in study.get_trials() if t.state == TrialState.PRUNED
        )
    means = {f: summary["families"][f]["objectives"]["val_accuracy"]["mean"] for f in LABELS.values()}
    assert list(summary["families"]) == sorted(LABELS.values(), key=lambda f: -means[f])
    assert set(summary["param_importances"]["val_accuracy"]) == set(DISTRIBUTIONS)
    assert [c["number"] for c in summary["corruption"]] == [t.number for t in ranked]
    top = summary["corruption"][0]
    assert top["per_category"] == ranked[0].user_attrs["result"]["corrupted"]["per_category"]
    assert list(top["per_severity"]) == ["1", "2", "3", "4", "5"]
    assert top["clean"] == ranked[0].value


def test_two_objective_report_has_pareto_front_and_history_per_objective(double):
    study, paths = double
    assert sorted(paths.figures) == ["corruption", "families", "history", "learning_curves", "pareto"]
    for image in paths.figures.values():
        assert_png(image)
    parsed = parse_html(paths.html)
    for figure in ["figure-history-0", "figure-history-1", "figure-pareto", "figure-families", "figure-corruption"]:
        assert figure in parsed.ids
    assert "figure-learning-curves" in parsed.ids  # from the stored history: no intermediate values here
    assert_plotly_embedded_once(paths.html)

    summary = json.loads(paths.summary.read_text())
    done = completed(study)
    dominated = {
        t.number
        for t in done
        for o in done
        if o.values[0] >= t.values[0] and o.values[1] <= t.values[1] and o.values != t.values
    }
    front = sorted(t.number for t in done if t.number not in dominated)
    assert summary["pareto_front"] == front
    assert [b["number"] for b in summary["best_trials"]] == front
    assert [o["name"] for o in summary["study"]["objectives"]] == ["val_accuracy", "latency"]
    top = [t["number"] for t in summary["top_trials"]]
    assert top[: min(4, len(front))] == sorted(front, key=lambda n: -study.trials[n].values[0])[:4]
    for family in FAMILIES:
        latencies = [t.values[1] for t in done if family in t.user_attrs["families"]]
        latency = summary["families"][LABELS[family]]["objectives"]["latency"]
        assert latency["mean"] == pytest.approx(statistics.fmean(latencies))


def test_report_reads_a_journal_storage_alone_and_omits_what_does_not_apply(tmp_path):
    journal = str(tmp_path / "journal.log")
    build_study([("val_accuracy", "maximize")], JournalStorage(JournalFileBackend(journal)), corrupted=False)
    reloaded = optuna.load_study(study_name="demo", storage=JournalStorage(JournalFileBackend(journal)))
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "pareto.png").write_bytes(PNG_MAGIC)  # stale figure from an earlier report
    paths = write_report(reloaded, tmp_path / "out")
    assert sorted(paths.figures) == ["families", "history", "learning_curves"]
    assert not (tmp_path / "out" / "pareto.png").exists()
    summary = json.loads(paths.summary.read_text())
    assert summary["corruption"] is None
    assert "no top trial was evaluated on corrupted images" in summary["notes"]["corruption"]
    assert len(summary["top_trials"]) == 10
    page = paths.html.read_text(encoding="utf-8")
    assert "no top trial was evaluated on corrupted images" in page
    assert "figure-corruption" not in parse_html(paths.html).ids


def test_one_completed_trial_reports_without_importances(tmp_path):
    study = optuna.create_study(directions=["maximize", "minimize"])
    lr = {"train.lr": DISTRIBUTIONS["train.lr"]}
    study.add_trial(create_trial(values=[0.5, 2.0], params={"train.lr": 0.1}, distributions=lr))
    paths = write_report(study, tmp_path)
    summary = json.loads(paths.summary.read_text())
    assert summary["param_importances"] is None
    assert "at least 2 completed trials" in summary["notes"]["param_importances"]
    assert summary["families"] == {}  # nothing says which activations it used: no "unknown" row
    assert [o["name"] for o in summary["study"]["objectives"]] == ["objective 0", "objective 1"]
    parsed = parse_html(paths.html)
    assert "figure-importances" not in parsed.ids and "figure-pareto" in parsed.ids
    assert "learning_curves" not in paths.figures


def test_study_without_completed_trials_is_a_config_error(tmp_path):
    study = optuna.create_study(study_name="empty")
    study.add_trial(create_trial(state=TrialState.PRUNED, intermediate_values={1: 0.1}))
    study.add_trial(create_trial(state=TrialState.FAIL))
    with pytest.raises(ConfigError, match=r"study 'empty' has no completed trial \(1 fail, 1 pruned\)"):
        write_report(study, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_failure_while_writing_leaves_the_output_folder_untouched(tmp_path, monkeypatch):
    study = optuna.create_study()
    study.add_trial(create_trial(value=1.0, intermediate_values={1: 0.5}))
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.html").write_text("previous report")

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(report_html, "render_html", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        write_report(study, out)
    assert [p.name for p in out.iterdir()] == ["report.html"]
    assert (out / "report.html").read_text() == "previous report"
    with pytest.raises(RuntimeError, match="disk full"):
        write_report(study, tmp_path / "fresh")
    assert not (tmp_path / "fresh").exists()
