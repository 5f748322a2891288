"""Trained weights as Optuna artifacts: a ``FileSystemArtifactStore`` under ``runs/<name>/artifacts``.

Each kept trial's ``state_dict`` (``torch.save`` format) is uploaded with ``optuna.artifacts.upload_artifact``,
so optuna-dashboard lists it under the trial, and its artifact id is the trial's ``weights_artifact`` user
attribute. ``actsearch export FILE -o best.json --weights best.pt`` writes the picked trial's weights next to its
configuration; load them into the network the configuration builds with ``model.load_state_dict(torch.load(
"best.pt"))``.

Example:
    >>> import optuna, tempfile, torch
    >>> run_dir = tempfile.mkdtemp()
    >>> study = optuna.create_study()
    >>> trial = study.ask()
    >>> artifact_id = upload_weights(trial, state_dict_bytes({"w": torch.ones(2)}), run_dir)
    >>> frozen = study.tell(trial, 0.5)
    >>> path = download_weights(frozen, run_dir, f"{run_dir}/best.pt")
    >>> torch.load(path)["w"].tolist()
    [1.0, 1.0]
"""

from __future__ import annotations

import io
import os
import tempfile
import warnings
from pathlib import Path

import optuna
import torch
from optuna.artifacts import FileSystemArtifactStore, download_artifact, upload_artifact
from optuna.artifacts.exceptions import ArtifactNotFound
from optuna.trial import FrozenTrial

from actsearch.errors import ConfigError

__all__ = ["WEIGHTS_ATTR", "artifact_store", "download_weights", "remove_weights", "state_dict_bytes",
           "upload_weights"]

WEIGHTS_ATTR = "weights_artifact"


def artifact_store(run_dir: str | os.PathLike) -> FileSystemArtifactStore:
    """The study's artifact store, ``<run_dir>/artifacts``."""
    folder = Path(run_dir) / "artifacts"
    folder.mkdir(parents=True, exist_ok=True)
    return FileSystemArtifactStore(str(folder))


def state_dict_bytes(state_dict: dict) -> bytes:
    """A model's ``state_dict`` as the bytes of a ``torch.save`` file, tensors moved to the CPU."""
    buffer = io.BytesIO()
    torch.save({name: value.detach().cpu() for name, value in state_dict.items()}, buffer)
    return buffer.getvalue()


def upload_weights(trial: optuna.Trial, weights: bytes, run_dir: str | os.PathLike) -> str:
    """Store a running trial's weights as an artifact; returns (and records on the trial) its id."""
    store = artifact_store(run_dir)
    with tempfile.TemporaryDirectory(dir=Path(run_dir) / "artifacts") as folder:
        path = Path(folder) / f"trial-{trial.number}-weights.pt"
        path.write_bytes(weights)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            artifact_id = upload_artifact(artifact_store=store, file_path=str(path), study_or_trial=trial,
                                          mimetype="application/octet-stream")
    trial.set_user_attr(WEIGHTS_ATTR, artifact_id)
    return artifact_id


def remove_weights(artifact_id: str, run_dir: str | os.PathLike) -> None:
    """Delete stored weights (a trial that left the best ``k``); absent ones are fine."""
    try:
        artifact_store(run_dir).remove(artifact_id)
    except ArtifactNotFound:
        pass


def download_weights(trial: FrozenTrial, run_dir: str | os.PathLike, output_path: str | os.PathLike) -> Path:
    """Write a finished trial's stored weights to ``output_path`` (replacing it); ConfigError when there are
    none."""
    artifact_id = trial.user_attrs.get(WEIGHTS_ATTR)
    if artifact_id is None:
        raise ConfigError(f"--weights: trial {trial.number} has no stored weights; the study stores them when "
                          "`tracking.weights` is all or a number k (the best k), for trials run since")
    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    temporary = output_path.with_name(f".{output_path.name}.download")
    temporary.unlink(missing_ok=True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            download_artifact(artifact_store=artifact_store(run_dir), artifact_id=artifact_id,
                              file_path=str(temporary))
    except ArtifactNotFound:
        raise ConfigError(f"--weights: the weights of trial {trial.number} were removed when it left the best "
                          "`tracking.weights` trials; pick a kept trial, or keep more") from None
    os.replace(temporary, output_path)
    return output_path
