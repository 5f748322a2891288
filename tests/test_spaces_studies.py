"""Every ready study's space only yields configurations that build and run a forward pass."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import torch

from actsearch.activations import ActivationSpec
from actsearch.study import load_study_file
from actsearch.trainers import build_network

STUDIES = sorted((Path(__file__).parent.parent / "studies").glob("*.yaml"))
SAMPLERS = {
    "random": lambda: optuna.samplers.RandomSampler(seed=0),
    "tpe": lambda: optuna.samplers.TPESampler(seed=0, multivariate=True, group=True, n_startup_trials=10),
}


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: one thread avoids OpenMP spin-waiting on a busy machine (100x slower with two)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("sampler", list(SAMPLERS))
@pytest.mark.parametrize("path", STUDIES, ids=[path.stem for path in STUDIES])
def test_sampled_configurations_build_and_run(path, sampler):
    study_file = load_study_file(path)
    space, task = study_file.space, study_file.task
    in_channels = 1 if task.dataset in ("digits", "mnist", "fashion_mnist") else 3
    study = optuna.create_study(sampler=SAMPLERS[sampler](), directions=study_file.directions)
    torch.manual_seed(0)
    x = torch.randn(2, 6, 5, 5)
    images = torch.randn(2, in_channels, 16, 16)
    for number in range(50):
        trial = study.ask()
        config = space.suggest(trial)
        assert space.decode(trial.params) == config
        specs = [config.plan.default] + [rule.spec for rule in config.plan.rules]
        for spec in filter(None, specs):
            out = spec.build()(x)
            assert out.shape == x.shape and torch.isfinite(out).all(), spec
        if number % 5 == 0:
            model = build_network(task.network, config.plan, num_classes=10, in_channels=in_channels)
            assert torch.isfinite(model(images)).all(), config
        values = [float(number % 5)] * len(study_file.directions)
        study.tell(trial, values if len(values) > 1 else values[0])


@pytest.mark.parametrize("path", STUDIES, ids=[path.stem for path in STUDIES])
def test_enqueued_baselines_come_back_as_their_configuration(path):
    study_file = load_study_file(path)
    space = study_file.space
    study = optuna.create_study(sampler=study_file.sampler_config.build(seed=0), directions=study_file.directions)
    for baseline in study_file.baselines:
        study.enqueue_trial(space.baseline_params(baseline))
    for baseline in study_file.baselines:
        config = space.suggest(study.ask())
        expected = ActivationSpec(baseline.family, baseline.params)
        specs = [config.plan.default] + [rule.spec for rule in config.plan.rules]
        assert [spec for spec in specs if spec is not None] == [expected] * len(space.placement.slots)
        assert config.train.items() >= dict(baseline.train).items()
