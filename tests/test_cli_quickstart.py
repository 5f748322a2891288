"""The README's quickstart command (shortened with --trials), then status, report, export and train on its result."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torchvision

import actsearch

REPO = Path(__file__).resolve().parents[1]
QUICKSTART = REPO / "studies" / "quickstart.yaml"


def _readme_quickstart_command() -> list[str]:
    """The `actsearch run ...` part of the README's first command."""
    first_block = (REPO / "README.md").read_text().split("```bash", 1)[1].split("```", 1)[0]
    command = first_block.strip().split("&&")[-1].split()
    assert command[:2] == ["actsearch", "run"], first_block
    return command


def _actsearch(*arguments: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "actsearch.cli", *arguments],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def finished_quickstart(tmp_path_factory) -> Path:
    workdir = tmp_path_factory.mktemp("quickstart")
    shutil.copytree(REPO / "studies", workdir / "studies")
    command = _readme_quickstart_command()
    run = _actsearch(*command[1:], "--trials", "3", cwd=workdir)
    assert run.returncode == 0, run.stderr
    assert "quickstart: 3/3 finished" in run.stdout + run.stderr
    return workdir


def test_quickstart_run_leaves_a_journal_and_trial_logs(finished_quickstart):
    run_dir = finished_quickstart / "runs" / "quickstart"
    assert (run_dir / "journal.log").stat().st_size > 0
    assert len(list((run_dir / "trials").iterdir())) >= 3


def test_status_counts_the_finished_trials(finished_quickstart):
    status = _actsearch("status", "studies/quickstart.yaml", cwd=finished_quickstart)
    assert status.returncode == 0, status.stderr
    assert "quickstart" in status.stdout
    # The three baselines ran first.
    for baseline in ("relu", "silu", "la_silu"):
        assert baseline in status.stdout


def test_report_writes_html_png_and_summary(finished_quickstart):
    report = _actsearch("report", "studies/quickstart.yaml", "-o", "report", cwd=finished_quickstart)
    assert report.returncode == 0, report.stderr
    out = finished_quickstart / "report"
    html = (out / "report.html").read_text()
    assert html.lstrip().lower().startswith("<!doctype html>")
    summary = json.loads((out / "summary.json").read_text())
    finished = sum(summary["trials"]["by_state"][state] for state in ("COMPLETE", "PRUNED"))
    assert finished == 3
    assert list(out.glob("*.png"))


def test_export_then_load_apply_and_train_a_step(finished_quickstart):
    export = _actsearch("export", "studies/quickstart.yaml", "-o", "best.json", cwd=finished_quickstart)
    assert export.returncode == 0, export.stderr
    config = actsearch.load_config(finished_quickstart / "best.json")
    assert config.provenance["study"] == "quickstart"

    model = torchvision.models.resnet18(num_classes=10)
    assert actsearch.apply_activations(model, config.plan) > 0
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    loss = torch.nn.functional.cross_entropy(model(torch.randn(2, 3, 32, 32)), torch.tensor([0, 1]))
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)


def test_train_retrains_the_exported_configuration(finished_quickstart):
    export = _actsearch("export", "studies/quickstart.yaml", "-o", "best.yaml", cwd=finished_quickstart)
    assert export.returncode == 0, export.stderr
    train = _actsearch("train", "--config", "best.yaml", "--epochs", "1", "--json", cwd=finished_quickstart)
    assert train.returncode == 0, train.stderr
    result = json.loads(train.stdout)["result"]
    assert 0.0 <= result["test_accuracy"] <= 1.0
