"""Ray-distributed Optuna search: run a study file, prune, survive failures, resume, export the winner.

Example:
    >>> from actsearch.search import load_study_file, run_study, export_best, load_config
    >>> study_file = load_study_file("studies/quickstart.yaml")  # doctest: +SKIP
    >>> summary = run_study(study_file, n_trials=8)  # doctest: +SKIP
    >>> path = export_best(study_file, "best.json")  # doctest: +SKIP
    >>> load_config(path).plan  # doctest: +SKIP
"""

from actsearch.search.broker import PruningBroker
from actsearch.search.cluster import RaySession, WorkerSlots, plan_slots
from actsearch.search.driver import RunSummary, run_study
from actsearch.search.export import ExportedConfig, export_best, load_config, pick_trial
from actsearch.search.objective import OBJECTIVE_METRICS, objective_values
from actsearch.search.report import ReportPaths, dashboard_command, write_report
from actsearch.search.resume import load_study, prepare_study, recover_interrupted
from actsearch.search.runner import TrainerRunner, TrialRunner
from actsearch.search.status import study_status
from actsearch.search.storage import DriverLock, open_storage, run_directory
from actsearch.search.studyfile import StudyFile, StudyFileError, load_study_file
from actsearch.search.worker import TrialOutcome, TrialWorker

__all__ = [
    "OBJECTIVE_METRICS",
    "DriverLock",
    "ExportedConfig",
    "PruningBroker",
    "RaySession",
    "ReportPaths",
    "RunSummary",
    "StudyFile",
    "StudyFileError",
    "TrainerRunner",
    "TrialOutcome",
    "TrialRunner",
    "TrialWorker",
    "WorkerSlots",
    "dashboard_command",
    "export_best",
    "load_config",
    "load_study",
    "load_study_file",
    "objective_values",
    "open_storage",
    "pick_trial",
    "plan_slots",
    "prepare_study",
    "recover_interrupted",
    "run_directory",
    "run_study",
    "study_status",
    "write_report",
]
