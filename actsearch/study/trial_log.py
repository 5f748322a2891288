"""Per-trial logs: ``runs/<name>/trials/<number>.json``, one file per finished or failed trial.

They duplicate what the study holds, in a form that needs no Optuna to read (``jq``, an editor),
plus what the study does not keep: the worker's process id and the traceback of an error.

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

__all__ = ["trial_record", "write_json_atomic", "write_missing_trial_logs", "write_text_atomic", "write_trial_log"]


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
    return write_json_atomic(Path(run_dir) / "trials" / f"{trial.number}.json", record)


def write_missing_trial_logs(run_dir: Path, study: optuna.Study) -> list[int]:
    """Write the log of every told trial that has none (told just before a kill, or recovered after one);
    returns their numbers."""
    folder = Path(run_dir) / "trials"
    present = {path.name for path in folder.glob("*.json")} if folder.exists() else set()
    told = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)
    trials = study.get_trials(deepcopy=False, states=told)
    missing = [trial for trial in trials if f"{trial.number}.json" not in present]
    for trial in missing:
        write_trial_log(run_dir, trial)
    return [trial.number for trial in missing]
