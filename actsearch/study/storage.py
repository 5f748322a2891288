"""Where a study's trials live: an Optuna journal file by default, any Optuna storage URL otherwise.

The default needs no server: ``runs/<study name>/journal.log`` under ``runs_dir``. Only the driver
writes to it, so it stays safe on a multi-node Ray cluster.

Example:
    >>> import tempfile
    >>> storage, where = open_storage(None, "demo", runs_dir=tempfile.mkdtemp())
    >>> where.endswith("runs/demo/journal.log")
    True
"""

from __future__ import annotations

import os
from pathlib import Path

import filelock
from optuna.storages import BaseStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend, JournalRedisBackend, JournalStorage

from actsearch.errors import ConfigError

__all__ = ["JOURNAL_SUFFIXES", "DriverLock", "journal_path", "open_storage", "run_directory", "storage_description"]

JOURNAL_SUFFIXES = (".log", ".journal", ".jsonl")


def run_directory(study_name: str, runs_dir: str | os.PathLike = ".") -> Path:
    """Folder holding a study's journal, per-trial logs and lock: ``<runs_dir>/runs/<study_name>``."""
    return Path(runs_dir) / "runs" / study_name


def journal_path(url: str | None, study_name: str, runs_dir: str | os.PathLike = ".") -> Path | None:
    """The journal file a storage setting names (the default one for ``None``), or None for a URL."""
    if url is None:
        return run_directory(study_name, runs_dir) / "journal.log"
    if "://" not in url and url.endswith(JOURNAL_SUFFIXES):
        return Path(url)
    return None


def storage_description(url: str | None, study_name: str, runs_dir: str | os.PathLike = ".") -> str:
    """The storage as a user reads it: the journal path, or the URL with any password hidden."""
    if url is None:
        return str(run_directory(study_name, runs_dir) / "journal.log")
    if "://" in url and "@" in url.split("://", 1)[1]:
        scheme, rest = url.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}"
    return url


def open_storage(
    url: str | None,
    study_name: str,
    *,
    runs_dir: str | os.PathLike = ".",
    create: bool = True,
    repair: bool = False,
) -> tuple[BaseStorage, str]:
    """Open the study's storage; returns it with a printable description.

    ``url`` None means the default journal file; a path ending in .log/.journal/.jsonl is a journal
    file too; anything with ``://`` is an Optuna storage URL (``sqlite:///runs.db``,
    ``postgresql://user:pass@host/db``, ...). ``create=False`` refuses to create a missing journal file.
    ``repair=True`` cuts a journal's last line left half-written by a killed driver and removes the Optuna
    lock file (``<journal>.lock``) such a driver left, which would make the next write wait 30 s; only the
    driver holding the study's :class:`DriverLock` may ask for it: for anyone else that line or lock may be
    a live driver's (readers skip an unfinished last line on their own).
    Raises ConfigError when the storage cannot be opened.
    """
    description = storage_description(url, study_name, runs_dir)
    path = journal_path(url, study_name, runs_dir)
    if path is not None:
        if not create and not path.exists():
            raise ConfigError(
                f"no study journal at {path}; run the study first (`actsearch run STUDY_FILE`) "
                "or set `storage:` in the study file to where it was written"
            )
        return _open_journal(path, repair=repair), description
    if "://" not in url:
        raise ConfigError(
            f"storage {url!r} is neither an Optuna storage URL (e.g. 'sqlite:///runs.db', "
            "'postgresql://user:pass@host/db') nor a journal file path ending in "
            f"{', '.join(JOURNAL_SUFFIXES)}"
        )
    try:
        if url.startswith(("redis://", "rediss://", "unix://")):
            return JournalStorage(JournalRedisBackend(url)), description
        return RDBStorage(url), description
    except Exception as error:
        raise ConfigError(
            f"cannot open storage {description}: {type(error).__name__}: {error}; allowed: an "
            "Optuna storage URL that is reachable (e.g. 'sqlite:///runs.db', 'redis://host:6379') or a journal file path"
        ) from None


def _open_journal(path: Path, *, repair: bool) -> JournalStorage:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if repair:
            _drop_torn_tail(path)
            _optuna_lock(path).unlink(missing_ok=True)
        # Optuna's default lock, so that other tools writing to the file (optuna-dashboard) exclude us.
        return JournalStorage(JournalFileBackend(str(path)))
    except OSError as error:
        raise ConfigError(
            f"cannot open journal file {path}: {error.strerror or error}; allowed: a writable path"
        ) from None


def _drop_torn_tail(path: Path) -> None:
    """Cut a last line left half-written by a killed driver, so the next entry starts on a fresh line."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as journal:
        journal.seek(-1, os.SEEK_END)
        if journal.read(1) == b"\n":
            return
        journal.seek(0)
        content = journal.read()
        journal.truncate(content.rfind(b"\n") + 1)


def _optuna_lock(path: Path) -> Path:
    """The lock file of Optuna's journal file backend (both its symlink and its open lock name it so)."""
    return path.with_name(path.name + ".lock")


class DriverLock:
    """An exclusive lock on ``runs/<name>/driver.lock``: one driver per study at a time.

    A portable file lock (the ``filelock`` package); the operating system releases it when the driver
    exits, even when killed, so a resumed run can safely take over trials left RUNNING. The holder's pid
    is written beside it, in ``driver.pid``, for the message a second driver gets.

    Example:
        >>> import tempfile
        >>> with DriverLock(run_directory("demo", tempfile.mkdtemp())):
        ...     pass
    """

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / "driver.lock"
        self._pid_path = self.path.with_name("driver.pid")
        self._lock = filelock.FileLock(self.path, timeout=0)

    def __enter__(self) -> DriverLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire()
        except filelock.Timeout:
            try:
                holder = self._pid_path.read_text().strip() or "unknown"
            except OSError:
                holder = "unknown"
            raise ConfigError(
                f"another driver (pid {holder}) is running this study (lock {self.path}); "
                "wait for it to finish or stop it, then run again to resume"
            ) from None
        self._pid_path.write_text(str(os.getpid()))
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._lock.release()
