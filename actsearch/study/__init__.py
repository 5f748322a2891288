"""A study without Ray: the study file, its objectives, the storage, resume, trial logs, export.

Everything here reads or writes a study; nothing starts Ray, so ``validate``, ``status``, ``export``,
``report`` and :func:`load_config` work on any machine that can read the storage.

Example:
    >>> from actsearch.study import load_study_file, validate_command
    >>> code, text = validate_command("studies/quickstart.yaml")  # doctest: +SKIP
    >>> study_file = load_study_file("studies/quickstart.yaml")  # doctest: +SKIP
"""

from actsearch.study.early_failures import EarlyFailures
from actsearch.study.coverage import enqueue_family_coverage, uncovered_families
from actsearch.study.export import ExportedConfig, export_best, load_config, pick_trial, ranked_candidates
from actsearch.study.objectives import OBJECTIVES, MissingObjectiveError, ObjectiveSpec, objective_values
from actsearch.study.resume import FINISHED_STATES, load_study, prepare_study, recover_interrupted
from actsearch.study.retries import RETRY_WANTED, enqueue_missing_retries, enqueue_retry, fail_trial
from actsearch.study.sections import (
    PRUNERS,
    SAMPLERS,
    Budget,
    Execution,
    Objective,
    PrunerConfig,
    SamplerConfig,
    Tracking,
    parse_duration,
)
from actsearch.study.stop_rules import StopRules
from actsearch.study.storage import DriverLock, journal_path, open_storage, run_directory, storage_description
from actsearch.study.studyfile import StudyFile, StudyFileError, format_errors, load_study_file, validate_command
from actsearch.study.outcome import TrialOutcome
from actsearch.study.trial_log import (
    read_trial_log,
    write_missing_trial_logs,
    write_running_log,
    write_text_atomic,
    write_trial_log,
)

__all__ = [
    "FINISHED_STATES",
    "OBJECTIVES",
    "RETRY_WANTED",
    "PRUNERS",
    "SAMPLERS",
    "Budget",
    "DriverLock",
    "EarlyFailures",
    "Execution",
    "ExportedConfig",
    "MissingObjectiveError",
    "Objective",
    "ObjectiveSpec",
    "PrunerConfig",
    "SamplerConfig",
    "StopRules",
    "StudyFile",
    "StudyFileError",
    "Tracking",
    "TrialOutcome",
    "enqueue_missing_retries",
    "enqueue_family_coverage",
    "enqueue_retry",
    "export_best",
    "fail_trial",
    "format_errors",
    "journal_path",
    "load_config",
    "load_study",
    "load_study_file",
    "objective_values",
    "open_storage",
    "parse_duration",
    "pick_trial",
    "prepare_study",
    "ranked_candidates",
    "read_trial_log",
    "recover_interrupted",
    "run_directory",
    "storage_description",
    "uncovered_families",
    "validate_command",
    "write_missing_trial_logs",
    "write_running_log",
    "write_text_atomic",
    "write_trial_log",
]
