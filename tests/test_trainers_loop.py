"""The training loop: it learns, reports each epoch, stops on divergence, and is reproducible."""

from __future__ import annotations

import pickle

import pytest
import torch
import torch.nn as nn

from actsearch.errors import ConfigError
from actsearch.trainers import DivergenceError, Task, TrialResult, load_data, run_trial
from actsearch.trainers.hparams import resolve_hparams
from actsearch.trainers.networks import NETWORKS, register_network
from actsearch.trainers.optim import lr_factor

TASK = Task(dataset="digits", network="smallcnn", epochs=4, device="cpu")


@pytest.fixture(scope="module")
def digits():
    return load_data(TASK)


def test_loss_goes_down_and_accuracy_beats_chance_on_digits(digits):
    result = run_trial(TASK, "relu", {"lr": 0.05}, data=digits)
    losses = [entry["train_loss"] for entry in result.history]
    assert losses[-1] < 0.5 * losses[0]
    assert result.val_accuracy > 0.5  # chance is 0.1
    assert result.epochs_completed == 4 and result.test_accuracy is None and result.corrupted is None
    assert result.n_parameters == sum(p.numel() for p in NETWORKS["smallcnn"].builder(10, 1, 1.0).parameters())
    assert result.images_per_second > 0 and result.latency_ms > 0 and result.seconds > 0


def test_test_set_is_scored_only_on_request(digits):
    result = run_trial(TASK, "la_silu", {"lr": 0.05, "optimizer": "adamw", "schedule": "onecycle"}, data=digits,
                       evaluate_test=True)
    assert 0.3 < result.test_accuracy <= 1.0


def test_on_epoch_receives_the_metrics_of_each_epoch(digits):
    seen = []
    result = run_trial(TASK, "relu", data=digits, on_epoch=lambda epoch, metrics: seen.append((epoch, metrics)))
    assert [epoch for epoch, _ in seen] == [1, 2, 3, 4]
    assert {"val_accuracy", "train_loss", "train_accuracy", "val_loss", "lr", "seconds"} <= set(seen[0][1])
    assert [metrics for _, metrics in seen] == result.history


def test_exception_from_on_epoch_stops_the_trial_and_propagates(digits):
    class Pruned(Exception):
        pass

    calls = []

    def prune_at_two(epoch, metrics):
        calls.append(epoch)
        if epoch == 2:
            raise Pruned

    with pytest.raises(Pruned):
        run_trial(TASK, "relu", data=digits, on_epoch=prune_at_two)
    assert calls == [1, 2]
    assert not torch.are_deterministic_algorithms_enabled()


def test_huge_learning_rate_is_reported_as_divergence(digits):
    with pytest.raises(DivergenceError, match=r"loss became (nan|inf) at epoch 1") as info:
        run_trial(TASK, "relu", {"lr": 1e10}, data=digits)
    assert info.value.epoch == 1


class _InfAfter(nn.Module):
    """A working net whose logits become infinite after ``steps`` training forward passes."""

    def __init__(self, num_classes, in_channels, steps):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.LazyLinear(num_classes))
        self.steps, self.calls = steps, 0

    def forward(self, x):
        self.calls += self.training
        logits = self.net(x)
        return logits * float("inf") if self.calls > self.steps else logits


@pytest.fixture
def exploding_network():
    register_network("exploding", stages=("net",))(lambda classes, channels, width: _InfAfter(classes, channels, 25))
    yield "exploding"
    del NETWORKS["exploding"]


def test_divergence_names_the_epoch_where_the_loss_broke(digits, exploding_network):
    task = Task(dataset="digits", network=exploding_network, epochs=4, device="cpu")  # 10 steps per epoch
    with pytest.raises(DivergenceError) as info:
        run_trial(task, None, {"divergence_check_steps": 1000}, data=digits)
    assert info.value.epoch == 3 and str(info.value) == "loss became nan at epoch 3"
    assert pickle.loads(pickle.dumps(info.value)).epoch == 3


def test_deterministic_mode_gives_identical_results_twice(digits):
    task = Task(dataset="digits", network="smallcnn", epochs=2, deterministic=True, seed=5, device="cpu")
    first = run_trial(task, "silu", {"cutout": 2, "flip": True}, data=digits)
    second = run_trial(task, "silu", {"cutout": 2, "flip": True}, data=digits)
    assert [h["train_loss"] for h in first.history] == [h["train_loss"] for h in second.history]
    assert first.val_accuracy == second.val_accuracy
    other_seed = run_trial(Task(**{**task.to_dict(), "seed": 6}), "silu", {"cutout": 2, "flip": True}, data=digits)
    assert [h["train_loss"] for h in other_seed.history] != [h["train_loss"] for h in first.history]


def test_best_checkpoint_reports_the_best_validation_epoch(digits):
    result = run_trial(TASK, "relu", {"checkpoint": "best", "lr": 0.3, "schedule": "constant"}, data=digits,
                       evaluate_test=True)
    assert result.val_accuracy == max(entry["val_accuracy"] for entry in result.history)


def test_result_round_trips_through_dict(digits):
    result = run_trial(Task(dataset="digits", network="smallcnn", epochs=1, device="cpu"), "relu", data=digits)
    assert TrialResult.from_dict(result.to_dict()) == result
    assert set(result.to_dict()) >= {"val_accuracy", "test_accuracy", "corrupted", "corrupted_accuracy",
                                     "epochs_completed", "history", "n_parameters", "images_per_second",
                                     "latency_ms", "seconds"}


def test_schedules_shape_the_learning_rate():
    def factors(**overrides):
        hparams = resolve_hparams(overrides)
        return [lr_factor(hparams, step, total_steps=100, steps_per_epoch=10) for step in range(100)]

    step = factors(schedule="step")
    assert step[49] == 1.0 and step[50] == pytest.approx(0.1) and step[99] == pytest.approx(0.01)
    cosine = factors(schedule="cosine")
    assert cosine[0] == 1.0 and cosine[50] == pytest.approx(0.5) and cosine == sorted(cosine, reverse=True)
    onecycle = factors(schedule="onecycle", onecycle_peak=0.2)
    assert onecycle[0] == pytest.approx(1 / 25) and onecycle[20] == pytest.approx(1.0)
    assert max(onecycle) == onecycle[20] and onecycle[99] < 0.02
    warm = factors(schedule="constant", warmup_epochs=2)
    assert warm[0] == pytest.approx(0.05) and warm[19] == 1.0 and warm[50] == 1.0


def test_weight_decay_skips_batchnorm_parameters(digits, monkeypatch):
    import actsearch.trainers.optim as optim

    captured = {}

    def spy(model, hparams):
        optimizer = real(model, hparams)
        captured["groups"] = optimizer.param_groups
        captured["model"] = model
        return optimizer

    real = optim.build_optimizer
    monkeypatch.setattr("actsearch.trainers.loop.build_optimizer", spy)
    run_trial(Task(dataset="digits", network="smallcnn", epochs=1, device="cpu"), "relu", {"weight_decay": 0.01},
              data=digits)
    model = captured["model"]
    decayed = {id(p) for group in captured["groups"] if group["weight_decay"] > 0 for p in group["params"]}
    assert id(model.stem.conv.weight) in decayed
    assert id(model.stem.bn.weight) not in decayed and id(model.fc.bias) not in decayed


def test_corrupted_accuracy_uses_the_first_validation_images(digits, monkeypatch):
    import actsearch.trainers.loop as loop_module

    seen = {}
    real = loop_module.evaluate_corrupted

    def spy(model, images, labels, **kwargs):
        seen.update(images=images, labels=labels, **kwargs)
        return real(model, images, labels, **kwargs)

    monkeypatch.setattr(loop_module, "evaluate_corrupted", spy)
    task = Task(dataset="digits", network="smallcnn", epochs=1, device="cpu",
                corruptions=["gaussian_noise", "contrast"], severities=(1, 5), corruption_images=40)
    result = run_trial(task, "relu", data=digits)
    assert torch.equal(seen["images"], digits.val_images[:40]) and seen["severities"] == (1, 5)
    assert torch.all(torch.bincount(seen["labels"], minlength=10) >= 3)  # stratified: 4 per class, +-1
    assert result.corrupted_accuracy == result.corrupted["mean"]
    assert set(result.corrupted["per_corruption"]) == {"gaussian_noise", "contrast"}
    assert set(result.corrupted["per_severity"]) == {"1", "5"}


def test_reflect_padding_wider_than_the_image_is_a_config_error(digits):
    from actsearch.errors import ConfigError

    with pytest.raises(ConfigError, match=r"crop_padding = 8 must be smaller than the image side \(8 px\)"):
        run_trial(TASK, "relu", {"crop_padding": 8}, data=digits)


def test_unknown_corruption_fails_before_training():
    from actsearch.errors import ConfigError

    with pytest.raises(ConfigError, match="gaussian_nois"):
        Task(dataset="digits", corruptions=["gaussian_nois"])


def test_cuda_out_of_memory_becomes_a_trial_error(digits, monkeypatch):
    from actsearch.trainers import TrialOutOfMemoryError

    def out_of_memory(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB\nmore detail")

    monkeypatch.setattr("actsearch.trainers.loop._train", out_of_memory)
    expected = r"Tried to allocate 2.00 GiB \(network smallcnn.*batch 128"
    with pytest.raises(TrialOutOfMemoryError, match=expected) as info:
        run_trial(TASK, "relu", data=digits)
    assert info.value.__context__ is None  # the traceback holding the trial's tensors is released


class _BlowUpAfter(nn.Module):
    """A working net whose logits grow 1000-fold, finite, after ``steps`` training forward passes."""

    def __init__(self, num_classes, steps):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.LazyLinear(num_classes))
        self.steps, self.calls = steps, 0

    def forward(self, x):
        self.calls += self.training
        logits = self.net(x)
        return logits * 1000.0 if self.calls > self.steps else logits


class _Constant(nn.Module):
    """Predicts the same class for every image: accuracy at chance whatever it learns."""

    def __init__(self, num_classes):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(num_classes))

    def forward(self, x):
        return self.bias.expand(len(x), -1) + 0 * x.flatten(1)[:, :1]


@pytest.fixture
def broken_networks():
    register_network("blowup", stages=("net",))(lambda classes, channels, width: _BlowUpAfter(classes, 15))
    register_network("constant", stages=("net",))(lambda classes, channels, width: _Constant(classes))
    yield
    del NETWORKS["blowup"], NETWORKS["constant"]


def test_finite_loss_blow_up_is_divergence_with_its_reason_and_history(digits, broken_networks):
    task = Task(dataset="digits", network="blowup", epochs=4, device="cpu")  # 10 steps per epoch
    with pytest.raises(DivergenceError, match=r"^loss .* is above 10 x its starting value .* at epoch 2$") as info:
        run_trial(task, None, {"lr": 0.01}, data=digits)
    assert info.value.value == "finite" and info.value.epoch == 2
    assert [entry["epoch"] for entry in info.value.history] == [1]
    again = pickle.loads(pickle.dumps(info.value))
    assert (str(again), again.history) == (str(info.value), info.value.history)
    # The same blow-up goes unnoticed with the check turned off (it stays finite).
    assert run_trial(task, None, {"lr": 0.01, "divergence_loss_factor": 0}, data=digits).epochs_completed == 4


def test_accuracy_at_chance_after_the_patience_is_divergence(digits, broken_networks):
    task = Task(dataset="digits", network="constant", epochs=3, device="cpu")
    with pytest.raises(DivergenceError, match=r"validation accuracy \d+\.\d% is at chance \(10 classes\) at epoch 2"):
        run_trial(task, None, {"chance_patience_epochs": 2}, data=digits)
    assert run_trial(task, None, {"chance_patience_epochs": 0}, data=digits).epochs_completed == 3


@pytest.mark.parametrize("key, value", [("divergence_loss_factor", 0.5), ("chance_patience_epochs", -1)])
def test_divergence_limits_are_checked(key, value):
    with pytest.raises(ConfigError, match=f"train.{key}: must be"):
        resolve_hparams({key: value})
