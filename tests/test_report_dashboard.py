"""dashboard_command: a clear error without the optional extra, the right storage handed to optuna-dashboard."""

from __future__ import annotations

import sys
import types

import optuna
import pytest
from optuna.artifacts import FileSystemArtifactStore
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend

from actsearch.errors import ConfigError
from actsearch.report import dashboard_command

MISSING = "optuna-dashboard is not installed; install it with pip install 'actsearch[dashboard]'"


@pytest.fixture
def fake_dashboard(monkeypatch):
    """A stand-in optuna_dashboard module recording run_server calls (the real one blocks)."""
    calls = []
    module = types.ModuleType("optuna_dashboard")
    module.behaviour = None

    def run_server(storage, host="localhost", port=8080):
        calls.append({"storage": storage, "host": host, "port": port})
        if module.behaviour is not None:
            raise module.behaviour

    module.run_server = run_server
    module.calls = calls
    monkeypatch.setitem(sys.modules, "optuna_dashboard", module)
    return module


def test_dashboard_without_the_extra_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "optuna_dashboard", None)  # makes `import optuna_dashboard` fail
    with pytest.raises(ConfigError) as error:
        dashboard_command(str(tmp_path / "journal.log"), port=8080, host="127.0.0.1")
    assert str(error.value) == MISSING


def test_journal_file_is_opened_as_journal_storage(fake_dashboard, tmp_path):
    journal = tmp_path / "journal.log"
    optuna.create_study(study_name="demo", storage=JournalStorage(JournalFileBackend(str(journal))))
    assert dashboard_command(str(journal), port=9123, host="0.0.0.0") == 0
    (call,) = fake_dashboard.calls
    assert isinstance(call["storage"], JournalStorage)
    assert [s.study_name for s in optuna.get_all_study_summaries(call["storage"])] == ["demo"]
    assert (call["host"], call["port"]) == ("0.0.0.0", 9123)


def test_urls_pass_through_and_ctrl_c_exits_cleanly(fake_dashboard):
    fake_dashboard.behaviour = KeyboardInterrupt()
    assert dashboard_command("sqlite:///runs/demo.db", port=8080, host="127.0.0.1") == 0
    assert fake_dashboard.calls[0]["storage"] == "sqlite:///runs/demo.db"


def test_missing_journal_and_busy_port_are_config_errors(fake_dashboard, tmp_path):
    with pytest.raises(ConfigError, match="neither a storage URL .* nor an existing journal file"):
        dashboard_command(str(tmp_path / "missing.log"), port=8080, host="127.0.0.1")
    fake_dashboard.behaviour = OSError(98, "Address already in use")
    with pytest.raises(ConfigError, match="cannot serve the dashboard on 127.0.0.1:8080 .*choose another --port"):
        dashboard_command("sqlite:///runs/demo.db", port=8080, host="127.0.0.1")


def test_the_artifact_store_is_handed_to_the_dashboard(monkeypatch, tmp_path):
    calls = []
    module = types.ModuleType("optuna_dashboard")
    module.run_server = lambda storage, host, port, artifact_store=None: calls.append(artifact_store)
    monkeypatch.setitem(sys.modules, "optuna_dashboard", module)
    journal = tmp_path / "journal.log"
    optuna.create_study(study_name="demo", storage=JournalStorage(JournalFileBackend(str(journal))))
    (tmp_path / "artifacts").mkdir()
    dashboard_command(str(journal), artifact_dir=tmp_path / "artifacts")
    dashboard_command(str(journal), artifact_dir=tmp_path / "no-artifacts-yet")
    assert isinstance(calls[0], FileSystemArtifactStore) and calls[1] is None
