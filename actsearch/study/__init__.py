"""A study without Ray: the study file, its objectives, the storage, resume, trial logs, export.

Everything here reads or writes a study; nothing starts Ray, so ``validate``, ``status``, ``export``,
``report`` and :func:`load_config` work on any machine that can read the storage.

Example:
    >>> from actsearch.study import load_study_file, validate_command
    >>> code, text = validate_command("studies/quickstart.yaml")  # doctest: +SKIP
    >>> study_file = load_study_file("studies/quickstart.yaml")  # doctest: +SKIP
"""

from actsearch.study.confirm import (
    CONFIRM_SUFFIX,
    Candidate,
    ConfirmPlan,
    build_plan,
    config_label,
    confirm_values,
    fix_plan,
    load_confirm,
    open_confirm_study,
    pending_runs,
    recorded_plan,
    runs_by_job,
    search_study,
)
from actsearch.study.confirm_report import (
    confirm_summary,
    confirm_summary_of,
    confirmed_winner,
    format_confirm,
    write_confirm_json,
)
from actsearch.study.early_failures import EarlyFailures
from actsearch.study.coverage import enqueue_family_coverage, uncovered_families
from actsearch.study.export import ExportedConfig, export_best, load_config, pick_trial
from actsearch.study.objectives import OBJECTIVES, MissingObjectiveError, ObjectiveSpec, objective_values
from actsearch.study.ranking import knee_index, ranked_candidates
from actsearch.study.resume import FINISHED_STATES, load_study, prepare_study, recover_interrupted
from actsearch.study.retries import RETRY_WANTED, enqueue_missing_retries, enqueue_retry, fail_trial
from actsearch.study.sections import (
    PRUNERS,
    SAMPLERS,
    Budget,
    Confirm,
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
from actsearch.study.outcome import RETRIED_FAILURES, TrialOutcome
from actsearch.study.trial_log import (
    read_trial_log,
    write_missing_trial_logs,
    write_running_log,
    write_text_atomic,
    write_trial_log,
)

__all__ = [
    "CONFIRM_SUFFIX",
    "FINISHED_STATES",
    "OBJECTIVES",
    "PRUNERS",
    "RETRIED_FAILURES",
    "RETRY_WANTED",
    "SAMPLERS",
    "Budget",
    "Candidate",
    "Confirm",
    "ConfirmPlan",
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
    "build_plan",
    "config_label",
    "confirm_summary",
    "confirm_summary_of",
    "confirm_values",
    "confirmed_winner",
    "enqueue_missing_retries",
    "enqueue_family_coverage",
    "enqueue_retry",
    "export_best",
    "fail_trial",
    "fix_plan",
    "format_confirm",
    "format_errors",
    "journal_path",
    "knee_index",
    "load_config",
    "load_confirm",
    "load_study",
    "load_study_file",
    "objective_values",
    "open_confirm_study",
    "open_storage",
    "parse_duration",
    "pending_runs",
    "pick_trial",
    "prepare_study",
    "ranked_candidates",
    "read_trial_log",
    "recorded_plan",
    "recover_interrupted",
    "run_directory",
    "runs_by_job",
    "search_study",
    "storage_description",
    "uncovered_families",
    "validate_command",
    "write_confirm_json",
    "write_missing_trial_logs",
    "write_running_log",
    "write_text_atomic",
    "write_trial_log",
]
