"""Serve optuna-dashboard (the optional ``dashboard`` extra) on a study's storage.

Example (blocks until Ctrl-C, so not run here):
    >>> dashboard_command("runs/quickstart/journal.log", port=8080)  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

from optuna.artifacts import FileSystemArtifactStore
from optuna.storages import BaseStorage, JournalStorage
from optuna.storages.journal import JournalFileBackend

from actsearch.errors import ConfigError

__all__ = ["dashboard_command", "dashboard_storage"]

MISSING_EXTRA = "optuna-dashboard is not installed; install it with pip install 'actsearch[dashboard]'"


def dashboard_command(storage: str | Path | BaseStorage, *, port: int = 8080, host: str = "127.0.0.1",
                      artifact_dir: str | Path | None = None) -> int:
    """Start optuna-dashboard on ``storage`` at http://host:port/ until interrupted; returns exit status 0.

    ``storage`` is an Optuna storage, an RDB URL (``sqlite:///runs/x.db``) or the path of a journal file.
    ``artifact_dir``: the study's artifact store (``runs/<name>/artifacts``), so the dashboard lists each
    trial's stored weights; ignored when it does not exist.
    """
    try:
        import optuna_dashboard  # optional extra: import only when the dashboard is asked for
    except ImportError as error:
        raise ConfigError(MISSING_EXTRA) from error
    opened = dashboard_storage(storage)
    artifacts = {}
    if artifact_dir is not None and Path(artifact_dir).is_dir():
        artifacts["artifact_store"] = FileSystemArtifactStore(str(artifact_dir))
    print(f"optuna-dashboard serving {storage} at http://{host}:{port}/ (Ctrl-C to stop)", flush=True)
    try:
        optuna_dashboard.run_server(opened, host=host, port=port, **artifacts)
    except KeyboardInterrupt:
        return 0
    except OSError as error:
        raise ConfigError(f"cannot serve the dashboard on {host}:{port} ({error}); choose another --port") from error
    return 0


def dashboard_storage(storage: str | Path | BaseStorage) -> BaseStorage | str:
    """What optuna-dashboard can open: a journal file becomes a JournalStorage, URLs pass through.

    optuna-dashboard reads a bare path as a URL and fails on journal files, hence the conversion.
    """
    if isinstance(storage, BaseStorage):
        return storage
    text = str(storage)
    if "://" in text:
        return text
    path = Path(text)
    if not path.is_file():
        raise ConfigError(
            f"storage '{text}' is neither a storage URL (e.g. sqlite:///runs/study.db) nor an existing journal file"
        )
    # Optuna's default lock, the one the driver takes: a note written from the dashboard waits for it.
    return JournalStorage(JournalFileBackend(str(path)))
