"""A run keeps weights as Optuna artifacts (all, none, best k), TensorBoard curves, and calls callbacks."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import optuna
import pytest
import ray
import torch
from optuna.trial import TrialState

from actsearch.errors import ConfigError
from actsearch.search import run_study
from actsearch.study import StudyFileError, export_best, load_config, run_directory
from actsearch.study.artifacts import WEIGHTS_ATTR
from actsearch.trainers.networks import build_network
from search_fixtures import load_yaml_study, prepare

ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
optuna.logging.set_verbosity(optuna.logging.WARNING)


pytestmark = pytest.mark.usefixtures("local_ray")
RAY_CPUS = 2


def study_with(folder: Path, name: str, tracking: str, trials: int = 3):
    return load_yaml_study(folder, name, f"""\
        task: {{dataset: digits, network: smallcnn, epochs: 2, train_subset: 256, batch_size: 64, device: cpu}}
        space: {{families: [relu, silu], train: {{lr: {{low: 0.02, high: 0.2, log: true}}}}}}
        pruner: none
        budget: {{trials: {trials}}}
        execution: {{workers: 1, cpus_per_trial: 1, gpus_per_trial: 0}}
        tracking: {tracking}
        """)


def lr_runner(task, config, on_epoch, on_trained=None):
    """Scores a trial by its learning rate; hands back a one-tensor model holding that rate."""
    lr = config.train["lr"]
    on_epoch(1, {"val_accuracy": lr, "train_loss": 1.0})
    if on_trained is not None:
        model = torch.nn.Linear(1, 1)
        torch.nn.init.constant_(model.weight, lr)
        on_trained(model)
    return {"val_accuracy": lr, "epochs_completed": 1, "history": [{"epoch": 1, "val_accuracy": lr}]}


def complete_trials(study_file, runs_dir):
    study, _ = prepare(study_file, runs_dir)
    return study.get_trials(states=(TrialState.COMPLETE,))


def test_trained_weights_of_every_trial_are_artifacts_loadable_by_export(tmp_path):
    study_file = study_with(tmp_path, "weights", "{weights: all}", trials=2)
    finished = []
    summary = run_study(study_file, runs_dir=tmp_path, progress=False,
                        callbacks=[lambda study, trial: finished.append((type(study), trial.number, trial.state))])
    assert summary.complete == 2
    assert finished == [(optuna.Study, 0, TrialState.COMPLETE), (optuna.Study, 1, TrialState.COMPLETE)]
    trials = complete_trials(study_file, tmp_path)
    assert all(WEIGHTS_ATTR in trial.user_attrs for trial in trials)
    assert len(list((run_directory("weights", tmp_path) / "artifacts").glob("*-*-*"))) == 2
    export_best(study_file, tmp_path / "best.json", runs_dir=tmp_path, weights_path=tmp_path / "best.pt")
    exported = load_config(tmp_path / "best.json")
    model = build_network(exported.to_task(), exported.plan, num_classes=10, in_channels=1)
    state = torch.load(tmp_path / "best.pt", weights_only=True)
    model.load_state_dict(state)  # strict: the stored weights are this configuration's network
    assert set(state) == set(model.state_dict())


def test_only_the_best_k_keep_their_weights(tmp_path):
    study_file = study_with(tmp_path, "best-two", "{weights: 2, tensorboard: false}", trials=5)
    run_study(study_file, runs_dir=tmp_path, progress=False, trial_runner=lr_runner)
    trials = sorted(complete_trials(study_file, tmp_path), key=lambda trial: -trial.value)
    artifacts = run_directory("best-two", tmp_path) / "artifacts"
    kept = {path.name for path in artifacts.iterdir() if path.is_file()}
    assert kept == {trial.user_attrs[WEIGHTS_ATTR] for trial in trials[:2]}
    export_best(study_file, tmp_path / "best.json", runs_dir=tmp_path, weights_path=tmp_path / "best.pt")
    assert torch.load(tmp_path / "best.pt")["weight"].item() == pytest.approx(trials[0].value)
    dropped = [trial for trial in trials[2:] if WEIGHTS_ATTR in trial.user_attrs]
    if dropped:  # stored when it entered the best two, removed when it left them
        with pytest.raises(ConfigError, match=f"weights of trial {dropped[0].number} were removed"):
            export_best(study_file, tmp_path / "x.json", runs_dir=tmp_path, pick=f"trial:{dropped[0].number}",
                        weights_path=tmp_path / "x.pt")


def test_weights_none_asks_the_workers_for_nothing(tmp_path):
    study_file = study_with(tmp_path, "no-weights", "{weights: none, tensorboard: false}", trials=2)
    run_study(study_file, runs_dir=tmp_path, progress=False, trial_runner=lr_runner)
    assert not any(WEIGHTS_ATTR in trial.user_attrs for trial in complete_trials(study_file, tmp_path))
    with pytest.raises(ConfigError, match="trial 0 has no stored weights"):
        export_best(study_file, tmp_path / "best.json", runs_dir=tmp_path, pick="trial:0",
                    weights_path=tmp_path / "best.pt")


def test_training_curves_are_tensorboard_scalars(tmp_path):
    pytest.importorskip("tensorboard", reason="TensorBoard curves need the optional tensorboard package")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    study_file = study_with(tmp_path, "curves", "{weights: none}", trials=2)
    run_study(study_file, runs_dir=tmp_path, progress=False, trial_runner=lr_runner)
    folders = sorted((run_directory("curves", tmp_path) / "tb").iterdir())
    assert [folder.name for folder in folders] == ["trial-00000", "trial-00001"]
    events = EventAccumulator(str(folders[0]))
    events.Reload()
    lr = complete_trials(study_file, tmp_path)[0].params["train.lr"]
    assert [(e.step, e.value) for e in events.Scalars("val_accuracy")] == [(1, pytest.approx(lr))]
    assert events.Scalars("objective/val_accuracy")[0].value == pytest.approx(lr)


def test_a_failing_callback_is_logged_and_the_search_goes_on(tmp_path, caplog):
    def broken(study, trial):
        raise RuntimeError("tracker offline")

    study_file = study_with(tmp_path, "broken-callback", "{weights: none, tensorboard: false}", trials=2)
    with caplog.at_level(logging.WARNING, logger="actsearch.search.tracking"):
        summary = run_study(study_file, runs_dir=tmp_path, progress=False, trial_runner=lr_runner,
                            callbacks=[broken])
    assert summary.complete == 2
    assert "callback 'broken' failed on trial 0: RuntimeError: tracker offline" in caplog.text


def test_tracking_section_is_checked(tmp_path):
    with pytest.raises(StudyFileError, match="tracking.weights: .*all, none, or a number k >= 1"):
        study_with(tmp_path, "bad", "{weights: 0}")
