"""Task and hyperparameter validation: round trips and messages that name what is allowed."""

from __future__ import annotations

import pytest
import torch

from actsearch.errors import ConfigError
from actsearch.trainers import DEFAULT_HPARAMS, Task, paper_setup, resolve_hparams
from actsearch.trainers.task import resolve_device


def test_task_round_trips_through_dict():
    task = Task(dataset="synthetic", network="smallcnn", train_subset=0.5, corruptions=["gaussian_noise"],
                severities=[3, 1], corruption_images=None)
    data = task.to_dict()
    assert data["severities"] == [1, 3] and data["corruptions"] == ["gaussian_noise"]
    assert Task.from_dict(data) == task


def test_task_defaults_match_contract():
    task = Task()
    assert (task.dataset, task.network, task.epochs, task.batch_size, task.val_fraction) == (
        "digits", "resnet20", 10, 128, 0.1)
    assert task.severities == (1, 2, 3, 4, 5) and task.corruption_images == 1000 and task.data_root is None


def test_default_data_root_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("ACTSEARCH_DATA", str(tmp_path))
    assert Task().root == tmp_path


@pytest.mark.parametrize(("fields", "message"), [
    ({"dataset": "cifar11"}, "did you mean 'cifar10'"),
    ({"network": "resnet21"}, "allowed: resnet20"),
    ({"network": "tv:resnet19"}, "tv:resnet18"),
    ({"train_subset": 0}, "train_subset"),
    ({"train_subset": 1.5}, "fraction in (0, 1]"),
    ({"val_fraction": 0.0}, "val_fraction"),
    ({"severities": [0, 6]}, "1, 2, 3, 4, 5"),
    ({"severities": None}, "task.severities: must be a non-empty list"),
    ({"severities": 3}, "task.severities: must be a non-empty list drawn from 1, 2, 3, 4, 5; got 3"),
    ({"device": "tpu"}, "allowed: auto, cpu"),
    ({"epochs": 0}, "epochs"),
])
def test_bad_task_fields_name_the_field_and_allowed_values(fields, message):
    with pytest.raises(ConfigError) as info:
        Task(**fields)
    assert message in str(info.value)


def test_unknown_task_key_lists_allowed_keys():
    with pytest.raises(ConfigError, match="task.epoch: unknown key 'epoch'; allowed: dataset.*did you mean 'epochs'"):
        Task.from_dict({"epoch": 3})


def test_hparams_override_defaults_and_reject_unknown_keys():
    assert resolve_hparams({"lr": 0.01})["lr"] == 0.01
    assert resolve_hparams() == {**DEFAULT_HPARAMS, "milestones": tuple(DEFAULT_HPARAMS["milestones"])}
    with pytest.raises(ConfigError, match="'learning_rate'.*allowed: .*lr"):
        resolve_hparams({"learning_rate": 0.1})
    with pytest.raises(ConfigError, match="did you mean 'momentum'"):
        resolve_hparams({"momentun": 0.9})


@pytest.mark.parametrize(("overrides", "message"), [
    ({"optimizer": "adam"}, "allowed: sgd, adamw"),
    ({"schedule": "linear"}, "allowed: cosine, step, onecycle, constant"),
    ({"lr": -1}, "must be a number > 0"),
    ({"milestones": [0.5, 1.5]}, "fractions"),
    ({"label_smoothing": 1.0}, "[0, 1)"),
    ({"cutout": 2.5}, "integer"),
    ({"momentum": 1.0, "optimizer": "adamw"}, "train.momentum: must be a number in [0, 1)"),
    ({"nesterov": "yes"}, "train.nesterov: must be true or false; got 'yes'"),
])
def test_bad_hparams_are_config_errors(overrides, message):
    with pytest.raises(ConfigError) as info:
        resolve_hparams(overrides)
    assert message in str(info.value)


def test_layeract_paper_setup_is_the_published_recipe():
    task, hparams = paper_setup("layeract-cifar100-resnet44", seed=22)
    assert (task.dataset, task.network, task.epochs, task.batch_size, task.seed) == ("cifar100", "resnet44", 182,
                                                                                     128, 22)
    assert task.corruptions == "all" and task.corruption_images is None
    assert (hparams["lr"], hparams["momentum"], hparams["weight_decay"], hparams["milestones"]) == (
        0.1, 0.9, 1e-4, (0.5, 0.75))
    with pytest.raises(ConfigError, match="did you mean .layeract-cifar10-resnet20."):
        paper_setup("layeract-cifar10-resnet-20")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message given without a GPU")
def test_cuda_task_is_accepted_but_fails_clearly_where_there_is_no_gpu():
    task = Task(device="cuda")  # a driver without a GPU may plan trials for GPU workers
    with pytest.raises(ConfigError, match="CUDA is not available here"):
        resolve_device(task.device)
