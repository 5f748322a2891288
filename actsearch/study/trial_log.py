"""Per-trial logs: ``runs/<name>/trials/<number>.json``, one file per trial, rewritten as it runs.

While a trial runs, its file holds ``state: RUNNING``, its configuration and the epochs finished so far
(:func:`write_running_log`, after each epoch); when it ends, the full record replaces it. They duplicate what
the study holds, in a form that needs no Optuna to read (``jq``, an editor), plus what the study does not
keep: the epochs of a running trial, the worker's process id and the traceback of an error.

Example:
    >>> import json, tempfile, pathlib
    >>> path = write_json_atomic(pathlib.Path(tempfile.mkdtemp()) / "x.json", {"a": 1})
    >>> json.loads(path.read_text())
    {'a': 1}
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, TrialState

from actsearch.study.outcome import TrialOutcome

__all__ = [
    "read_trial_log",
    "trial_log_path",
    "trial_record",
    "write_json_atomic",
    "write_missing_trial_logs",
    "write_running_log",
    "write_text_atomic",
    "write_trial_log",
]


def write_json_atomic(path: Path, content: object) -> Path:
    """Write ``content`` as JSON through a temporary file and a rename: readers never see half a file."""
    return write_text_atomic(path, json.dumps(content, indent=2, default=str) + "\n")


def write_text_atomic(path: Path, text: str) -> Path:
    """Write ``text`` through a temporary file in the same folder and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w") as file:
            file.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def trial_record(trial: FrozenTrial) -> dict:
    """A finished trial as a plain dict: number, state, values, params and the actsearch user attributes."""
    return {
        "number": trial.number,
        "state": trial.state.name,
        "values": trial.values,
        "params": trial.params,
        "intermediate_values": {str(step): value for step, value in trial.intermediate_values.items()},
        "datetime_start": trial.datetime_start,
        "datetime_complete": trial.datetime_complete,
        **trial.user_attrs,
    }


def write_trial_log(run_dir: Path, trial: FrozenTrial, outcome: TrialOutcome | None = None) -> Path:
    """Write one trial's log file; returns its path."""
    record = trial_record(trial)
    if outcome is not None:
        record.update(worker_pid=outcome.worker_pid, seconds=outcome.seconds, traceback=outcome.traceback)
    return write_json_atomic(trial_log_path(run_dir, trial.number), record)


def trial_log_path(run_dir: Path, number: int) -> Path:
    return Path(run_dir) / "trials" / f"{number}.json"


def write_running_log(run_dir: Path, number: int, *, config: dict | None, history: list[dict]) -> Path:
    """The log of a trial still running: its configuration and the epochs it finished so far."""
    record = {"number": number, "state": "RUNNING", "config": config, "epochs_completed": len(history),
              "latest": history[-1] if history else None, "history": history}
    return write_json_atomic(trial_log_path(run_dir, number), record)


def read_trial_log(run_dir: Path, number: int) -> dict | None:
    """A trial's log, or None when there is none (yet) or it cannot be read."""
    try:
        return json.loads(trial_log_path(run_dir, number).read_text())
    except (OSError, ValueError):
        return None


def write_missing_trial_logs(run_dir: Path, study: optuna.Study) -> list[int]:
    """Write the final log of every told trial whose log is absent or still says RUNNING (told just before a
    kill, or recovered after one); returns their numbers."""
    told = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    missing = [trial for trial in study.get_trials(deepcopy=False, states=told)
               if (read_trial_log(run_dir, trial.number) or {}).get("state") in (None, "RUNNING")]
    for trial in missing:
        write_trial_log(run_dir, trial)
    return [trial.number for trial in missing]
