"""Open a study for a run, new or resumed, so that running the same study file again just continues.

- the file's search space must fit the distributions the study recorded (checked before anything is written);
- trials left RUNNING by a driver that was killed are marked FAIL ("interrupted") and their
  parameters are enqueued again, as is any failed trial whose retry a kill kept from being queued;
- baselines are enqueued once in the study's life (``study.user_attrs["baselines_enqueued"]``);
- the sampler is seeded with ``seed + number of trials so far``, so a resumed run does not propose
  the trials the first one already proposed.

Example:
    >>> import optuna
    >>> study = optuna.create_study()
    >>> study.ask().number
    0
    >>> recover_interrupted(study)  # trial 0 was never told: its driver is gone
    [0]
    >>> study.trials[0].state.name, study.trials[0].user_attrs["fail_reason"]
    ('FAIL', 'interrupted')
"""

from __future__ import annotations

import logging
from pathlib import Path

import optuna
from optuna.storages import BaseStorage
from optuna.trial import TrialState

from actsearch.version import __version__
from actsearch.errors import ConfigError
from actsearch.study.retries import enqueue_missing_retries, fail_trial
from actsearch.study.space_check import check_same_space
from actsearch.study.storage import open_storage
from actsearch.study.studyfile import StudyFile
from actsearch.spaces import Baseline

__all__ = [
    "baseline_name",
    "enqueue_baselines",
    "load_study",
    "prepare_study",
    "recover_interrupted",
    "study_metadata",
]

logger = logging.getLogger(__name__)

FINISHED_STATES = (TrialState.COMPLETE, TrialState.PRUNED)


def study_metadata(study_file: StudyFile) -> dict:
    """What ``study.user_attrs["actsearch"]`` records about the study file that created the study."""
    return {
        "study_file": str(study_file.path),
        "name": study_file.name,
        "objectives": [{"name": o.name, "direction": o.direction} for o in study_file.objectives],
        "task": study_file.task.to_dict(),
        "version": __version__,
    }


def prepare_study(
    study_file: StudyFile, storage: BaseStorage, storage_description: str
) -> tuple[optuna.Study, list[int]]:
    """Create or load the study, recover interrupted trials and lost retries, enqueue baselines, re-seed the sampler.

    Returns the study and the numbers of the interrupted trials that were recovered. Raises ConfigError, having
    written nothing, when the study exists with other objectives or a search space its trials do not fit.
    """
    check_same_space(study_file, storage, storage_description)
    study = optuna.create_study(
        storage=storage,
        study_name=study_file.name,
        directions=list(study_file.directions),
        pruner=study_file.pruner_config.build(),
        load_if_exists=True,
    )
    _check_same_objectives(study, study_file, storage_description)
    study.sampler = study_file.sampler_config.build(study_file.seed + len(study.get_trials(deepcopy=False)))
    interrupted = recover_interrupted(study)
    enqueue_missing_retries(study)
    enqueue_baselines(study, study_file)
    return study, interrupted


def _check_same_objectives(study: optuna.Study, study_file: StudyFile, storage_description: str) -> None:
    metadata = study_metadata(study_file)
    recorded = study.user_attrs.get("actsearch")
    if recorded is None:
        study.set_user_attr("actsearch", metadata)
        return
    wanted = [(o["name"], o["direction"]) for o in metadata["objectives"]]
    existing = [(o["name"], o["direction"]) for o in recorded["objectives"]]
    if wanted != existing:
        raise ConfigError(
            f"study {study_file.name!r} in {storage_description} was created with objectives {existing}, "
            f"but {study_file.path} asks for {wanted}; allowed: the same objectives, or a new study `name:`"
        )
    if recorded["task"] != metadata["task"]:
        logger.warning(
            "the task of study %r changed since it was created (%s); its trials mix both tasks",
            study_file.name,
            ", ".join(k for k in metadata["task"] if metadata["task"][k] != recorded["task"].get(k)),
        )


def load_study(study_file: StudyFile, *, runs_dir: str | Path = ".") -> optuna.Study:
    """Load an existing study for reading (status, export); ConfigError when there is none."""
    storage, where = open_storage(study_file.storage, study_file.name, runs_dir=runs_dir, create=False)
    try:
        return optuna.load_study(study_name=study_file.name, storage=storage)
    except KeyError:
        names = [summary.study_name for summary in optuna.get_all_study_summaries(storage, include_best_trial=False)]
        raise ConfigError(
            f"no study named {study_file.name!r} in {where}; studies there: {', '.join(names) or 'none'}; "
            "run it first with `actsearch run STUDY_FILE`"
        ) from None


def recover_interrupted(study: optuna.Study) -> list[int]:
    """Mark trials left RUNNING as FAIL ("interrupted") and enqueue their parameters again.

    Call only while no other driver runs the study (the driver holds its lock).
    """
    recovered = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        fail_trial(study, trial, "interrupted", retry=True)
        recovered.append(trial.number)
    return recovered


def enqueue_baselines(study: optuna.Study, study_file: StudyFile) -> list[str]:
    """Enqueue the study file's baselines, once in the study's life; returns the names enqueued now."""
    if study.user_attrs.get("baselines_enqueued"):
        return []
    # A driver killed between enqueueing and setting the flag must not enqueue them twice.
    present = {trial.user_attrs.get("baseline") for trial in study.get_trials(deepcopy=False)}
    enqueued = []
    for entry in study_file.baselines:
        name = baseline_name(entry)
        if name not in present:
            study.enqueue_trial(study_file.space.baseline_params(entry), user_attrs={"baseline": name, "attempt": 1})
            enqueued.append(name)
    study.set_user_attr("baselines_enqueued", True)
    return enqueued


def baseline_name(entry) -> str:
    """A baseline entry's name (a :class:`~actsearch.spaces.Baseline` or its study-file mapping)."""
    return (entry if isinstance(entry, Baseline) else Baseline.parse(entry)).name
