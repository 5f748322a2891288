"""Helpers shared by the search tests: write and load a small study file, open its study, ask a trial."""

from __future__ import annotations

import textwrap
from pathlib import Path

import optuna

from actsearch.study import StudyFile, load_study_file, open_storage, prepare_study


def load_yaml_study(folder: Path, name: str, body: str) -> StudyFile:
    """Write ``name: <name>`` followed by ``body`` (dedented YAML) to ``folder/<name>.yaml`` and load it."""
    path = Path(folder) / f"{name}.yaml"
    path.write_text(f"name: {name}\n" + textwrap.dedent(body))
    return load_study_file(path)


def prepare(study_file: StudyFile, runs_dir: Path) -> tuple[optuna.Study, list[int]]:
    """Open (or resume) the study in its default journal under ``runs_dir``, as the driver does."""
    storage, where = open_storage(study_file.storage, study_file.name, runs_dir=runs_dir)
    return prepare_study(study_file, storage, where)


def ask_with_config(study: optuna.Study, study_file: StudyFile) -> optuna.Trial:
    """Ask a trial and record its decoded configuration and families, as the driver does."""
    trial = study.ask()
    config = study_file.space.suggest(trial)
    trial.set_user_attr("config", config.to_dict())
    trial.set_user_attr("families", config.families())
    return trial
