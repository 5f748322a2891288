"""The search on Ray: the driver, the confirm driver, their workers, the pruning broker and the cluster session.

Only this package imports Ray; reading, exporting and reporting a study live in :mod:`actsearch.study` and
:mod:`actsearch.report`.

Example:
    >>> from actsearch.study import load_study_file
    >>> from actsearch.search import run_study
    >>> study_file = load_study_file("studies/quickstart.yaml")  # doctest: +SKIP
    >>> summary = run_study(study_file, n_trials=8)  # doctest: +SKIP
"""

from actsearch.search.broker import PruningBroker
from actsearch.search.cluster import RaySession, WorkerSlots, plan_slots
from actsearch.search.confirm import ConfirmRun, run_confirm
from actsearch.search.driver import RunSummary, run_study
from actsearch.search.runner import TrainerRunner, TrialRunner
from actsearch.search.worker import TrialWorker

__all__ = [
    "ConfirmRun",
    "PruningBroker",
    "RaySession",
    "RunSummary",
    "TrainerRunner",
    "TrialRunner",
    "TrialWorker",
    "WorkerSlots",
    "plan_slots",
    "run_confirm",
    "run_study",
]
