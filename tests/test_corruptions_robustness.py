"""Corrupted-accuracy evaluation: aggregates, model mode, seeding, official files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from actsearch.errors import ConfigError
from actsearch.trainers.corruptions import corrupt
from actsearch.trainers.robustness import evaluate_cifar_c, evaluate_corrupted

MEAN, STD = (0.5, 0.4, 0.3), (0.25, 0.2, 0.3)


class Recorder(nn.Module):
    """Tiny classifier that remembers the mode and grad state it ran in."""

    def __init__(self, channels: int = 3, classes: int = 4):
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.BatchNorm1d(channels * 16),
                                 nn.Dropout(0.5), nn.Linear(channels * 16, classes))
        self.seen: list[tuple[bool, bool]] = []

    def forward(self, x):
        self.seen.append((self.training, torch.is_grad_enabled()))
        return self.net(x)


@pytest.fixture(scope="module")
def data():
    generator = torch.Generator().manual_seed(0)
    images = (torch.rand(24, 3, 16, 16, generator=generator) * 255).to(torch.uint8)
    labels = torch.randint(0, 4, (24,), generator=generator)
    return images, labels


def test_aggregates_are_consistent(data):
    images, labels = data
    result = evaluate_corrupted(Recorder(), images, labels, mean=MEAN, std=STD,
                                corruptions=["gaussian_noise", "shot_noise", "fog", "contrast", "pixelate"],
                                severities=(1, 3, 5), batch_size=10)
    per_corruption = result["per_corruption"]
    assert list(per_corruption) == ["gaussian_noise", "shot_noise", "fog", "contrast", "pixelate"]
    assert list(result["per_severity"]) == ["1", "3", "5"]
    assert list(result["per_category"]) == ["noise", "weather", "digital"]  # blur and extra: none evaluated
    for entry in per_corruption.values():
        assert list(entry["per_severity"]) == ["1", "3", "5"]
        assert entry["mean"] == pytest.approx(np.mean(list(entry["per_severity"].values())))
        assert all(0 <= a <= 1 and a * 24 == pytest.approx(round(a * 24)) for a in entry["per_severity"].values())
    assert result["mean"] == pytest.approx(np.mean([e["mean"] for e in per_corruption.values()]))
    for level, accuracy in result["per_severity"].items():
        assert accuracy == pytest.approx(np.mean([e["per_severity"][level] for e in per_corruption.values()]))
    assert result["per_category"]["noise"] == pytest.approx(
        (per_corruption["gaussian_noise"]["mean"] + per_corruption["shot_noise"]["mean"]) / 2)
    assert result["per_category"]["digital"] == pytest.approx(
        (per_corruption["contrast"]["mean"] + per_corruption["pixelate"]["mean"]) / 2)
    assert result["mean"] == pytest.approx(np.mean(list(result["per_severity"].values())))


def test_accuracy_is_the_model_on_the_seeded_corrupted_images(data):
    images, labels = data
    model = Recorder()
    result = evaluate_corrupted(model, images, labels, mean=MEAN, std=STD, corruptions="speckle_noise",
                                severities=(4,), seed=9, batch_size=100)
    model.eval()
    corrupted = corrupt(images.float() / 255, "speckle_noise", 4, seed=9)
    normalized = (corrupted - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    with torch.no_grad():
        expected = (model(normalized).argmax(1) == labels).float().mean().item()
    assert result["per_corruption"]["speckle_noise"]["per_severity"]["4"] == pytest.approx(expected)
    assert result["mean"] == pytest.approx(expected)
    again = evaluate_corrupted(model, images, labels, mean=MEAN, std=STD, corruptions="speckle_noise",
                               severities=(4,), seed=9, batch_size=100)
    assert again == result


def test_eval_mode_no_grad_and_the_mode_is_restored(data):
    images, labels = data
    model = Recorder()
    model.train()
    evaluate_corrupted(model, images, labels, mean=MEAN, std=STD, corruptions="blur", severities=(2,), batch_size=8)
    assert model.seen and all(seen == (False, False) for seen in model.seen)
    assert model.training and all(module.training for module in model.modules())
    model.eval()
    evaluate_corrupted(model, images, labels, mean=MEAN, std=STD, corruptions="contrast", severities=(1,))
    assert not model.training


def test_deterministic_corruptions_do_not_depend_on_the_batch_size(data):
    images, labels = data
    model = Recorder()
    results = [evaluate_corrupted(model, images, labels, mean=MEAN, std=STD, corruptions=["contrast", "zoom_blur"],
                                  severities=(5,), batch_size=size) for size in (5, 24)]
    assert results[0] == results[1]


def test_gray_images(data):
    images, labels = data
    result = evaluate_corrupted(Recorder(channels=1), images[:, :1], labels, mean=(0.5,), std=(0.2,),
                                corruptions="extra", severities=(5,))
    assert set(result["per_corruption"]) == {"speckle_noise", "gaussian_blur", "spatter", "saturate"}


def test_bad_arguments(data):
    images, labels = data
    model = Recorder()
    with pytest.raises(ConfigError, match="one value per channel"):
        evaluate_corrupted(model, images, labels, mean=(0.5,), std=STD, corruptions="fog")
    with pytest.raises(ConfigError, match="no corruptions to evaluate"):
        evaluate_corrupted(model, images, labels, mean=MEAN, std=STD, corruptions=None)
    with pytest.raises(ConfigError, match="severities must be"):
        evaluate_corrupted(model, images, labels, mean=MEAN, std=STD, corruptions="fog", severities=(0,))
    with pytest.raises(ConfigError, match="uint8"):
        evaluate_corrupted(model, images.float(), labels, mean=MEAN, std=STD, corruptions="fog")
    with pytest.raises(ConfigError, match="unknown corruption 'rain'"):
        evaluate_corrupted(model, images, labels, mean=MEAN, std=STD, corruptions=["rain"])
    with pytest.raises(ConfigError, match="'cifar-c' is scored from the official files"):
        evaluate_corrupted(model, images, labels, mean=MEAN, std=STD, corruptions="cifar-c")


def write_release(folder, names):
    folder.mkdir()
    generator = np.random.default_rng(0)
    for name in names:
        np.save(folder / f"{name}.npy", generator.integers(0, 256, (10, 32, 32, 3), dtype=np.uint8))
    np.save(folder / "labels.npy", generator.integers(0, 4, 10))
    return folder


def test_evaluate_cifar_c_on_the_official_layout(tmp_path):
    folder = write_release(tmp_path / "CIFAR-10-C", ["snow", "fog", "spatter"])
    model = Recorder()
    model.train()
    result = evaluate_cifar_c(model, folder, mean=MEAN, std=STD, batch_size=1)
    assert list(result["per_corruption"]) == ["snow", "fog", "spatter"]
    assert result["per_category"] == pytest.approx({
        "weather": (result["per_corruption"]["snow"]["mean"] + result["per_corruption"]["fog"]["mean"]) / 2,
        "extra": result["per_corruption"]["spatter"]["mean"],
    })
    assert list(result["per_severity"]) == ["1", "2", "3", "4", "5"]
    assert model.training
    only = evaluate_cifar_c(model, folder, mean=MEAN, std=STD, corruptions="fog", severities=(2,), limit=1)
    assert list(only["per_corruption"]) == ["fog"] and only["mean"] in (0.0, 1.0)
    with pytest.raises(ConfigError, match="contrast.npy' not found"):
        evaluate_cifar_c(model, folder, mean=MEAN, std=STD, corruptions="digital")
    with pytest.raises(ConfigError, match=r"unknown CIFAR-C corruption \['fog'\]; allowed: gaussian_noise"):
        evaluate_cifar_c(model, folder, mean=MEAN, std=STD, corruptions=[["fog"]])
    with pytest.raises(ConfigError, match="does not exist"):
        evaluate_cifar_c(model, tmp_path / "missing", mean=MEAN, std=STD)
