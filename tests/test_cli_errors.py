"""Command-line manners: help, version, and bad input ending in one clear message with exit code 2."""

from __future__ import annotations

import builtins
from pathlib import Path

import pytest

from actsearch import __version__
from actsearch.cli import EXIT_BAD_INPUT, main

REPO = Path(__file__).resolve().parents[1]


def _run(capsys, *arguments: str) -> tuple[int, str, str]:
    code = main(list(arguments))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert __version__ in capsys.readouterr().out


@pytest.mark.parametrize("command", ["run", "resume", "status", "export", "train", "validate", "report", "dashboard"])
def test_every_command_has_help_with_an_example(capsys, command):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert "example" in capsys.readouterr().out


def test_no_command_prints_help_and_exits_2(capsys):
    code, out, _ = _run(capsys)
    assert code == EXIT_BAD_INPUT
    assert "run" in out and "export" in out


def test_missing_study_file(capsys, tmp_path):
    code, _, err = _run(capsys, "run", str(tmp_path / "nope.yaml"))
    assert code == EXIT_BAD_INPUT
    assert "nope.yaml" in err
    assert "Traceback" not in err


def test_validate_reports_the_key_and_the_allowed_names(capsys, tmp_path):
    study = tmp_path / "bad.yaml"
    study.write_text("name: bad\nspace: {families: {relux: {}}}\n")
    code, _, err = _run(capsys, "validate", str(study))
    assert code == EXIT_BAD_INPUT
    assert "relux" in err and "relu" in err and "space.families" in err


def test_validate_ok_for_every_ready_study(capsys):
    for study in sorted((REPO / "studies").glob("*.yaml")):
        code, out, err = _run(capsys, "validate", str(study))
        assert code == 0, err
        assert out.startswith("OK")


def test_run_with_a_malformed_file_writes_nothing(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    study = tmp_path / "bad.yaml"
    study.write_text("name: bad\nspace: {families: [relu]}\nbudget: {trials: 0}\n")
    code, _, err = _run(capsys, "run", str(study))
    assert code == EXIT_BAD_INPUT
    assert "budget.trials" in err
    assert not (tmp_path / "runs").exists()


def test_status_of_a_study_never_run(capsys, tmp_path):
    code, _, err = _run(capsys, "status", str(REPO / "studies" / "quickstart.yaml"), "--runs-dir", str(tmp_path))
    assert code == EXIT_BAD_INPUT
    assert "actsearch run" in err
    assert not (tmp_path / "runs" / "quickstart" / "journal.log").exists()


def test_train_with_an_unknown_activation(capsys):
    code, _, err = _run(capsys, "train", "--activation", "relux")
    assert code == EXIT_BAD_INPUT
    assert "relux" in err and "la_silu" in err


def test_train_with_a_malformed_set(capsys):
    code, _, err = _run(capsys, "train", "--activation", "relu", "--set", "lr")
    assert code == EXIT_BAD_INPUT
    assert "KEY=VALUE" in err


def test_train_with_a_missing_dataset(capsys, tmp_path):
    code, _, err = _run(capsys, "train", "--activation", "relu", "--dataset", "cifar10", "--data-root", str(tmp_path))
    assert code == EXIT_BAD_INPUT
    assert str(tmp_path) in err and "download" in err


def test_dashboard_without_the_extra(capsys, monkeypatch, tmp_path):
    real_import = builtins.__import__

    def no_dashboard(name, *args, **kwargs):
        if name.startswith("optuna_dashboard"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_dashboard)
    journal = tmp_path / "runs" / "quickstart" / "journal.log"
    journal.parent.mkdir(parents=True)
    journal.touch()
    code, _, err = _run(capsys, "dashboard", str(REPO / "studies" / "quickstart.yaml"), "--runs-dir", str(tmp_path))
    assert code == EXIT_BAD_INPUT
    assert "pip install" in err and "dashboard" in err


def test_train_with_an_unknown_preset_lists_the_recipes(capsys):
    code, _, err = _run(capsys, "train", "--activation", "relu", "--preset", "layeract-cifar10")
    assert code == EXIT_BAD_INPUT
    assert "layeract-cifar10-resnet20" in err and "layeract-cifar100-resnet44" in err


def test_train_with_the_paper_preset_looks_for_cifar10(capsys, tmp_path):
    code, _, err = _run(
        capsys, "train", "--activation", "la_silu", "--preset", "layeract-cifar10-resnet20", "--data-root", str(tmp_path)
    )
    assert code == EXIT_BAD_INPUT
    assert "cifar10" in err.lower() and str(tmp_path) in err
