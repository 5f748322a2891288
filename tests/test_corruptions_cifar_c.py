"""Reading the official CIFAR-10-C / CIFAR-100-C layout, from a tiny fake release folder."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from actsearch.errors import ConfigError
from actsearch.trainers.cifar_c import CIFAR_C_CORRUPTIONS, cifar_c_corruptions, load_cifar_c

PER_SEVERITY = 4


def write_release(folder, names=("fog", "gaussian_noise"), per_severity=PER_SEVERITY, labels_once=False):
    """Same layout as the release: (5 * n, 32, 32, 3) uint8 per corruption, severities in blocks of n."""
    folder.mkdir(exist_ok=True)
    count = 5 * per_severity
    for offset, name in enumerate(names):
        images = np.zeros((count, 32, 32, 3), dtype=np.uint8)
        images[:, 0, 0, 0] = np.arange(count)  # which image: index in the file
        images[:, 1, 2, 1] = offset  # which file
        images[:, 5:9, 20:, 2] = 200  # something to find in the channel-first layout
        np.save(folder / f"{name}.npy", images)
    labels = np.arange(count) % 10
    np.save(folder / "labels.npy", labels[:per_severity] if labels_once else labels)
    return folder


def test_round_trip_of_one_severity(tmp_path):
    folder = write_release(tmp_path / "CIFAR-10-C")
    images, labels = load_cifar_c(folder, "gaussian_noise", 3)
    assert images.shape == (PER_SEVERITY, 3, 32, 32) and images.dtype == torch.uint8
    assert images[:, 0, 0, 0].tolist() == list(range(2 * PER_SEVERITY, 3 * PER_SEVERITY))
    assert (images[:, 1, 1, 2] == 1).all() and (images[:, 2, 5:9, 20:] == 200).all()
    assert images.is_contiguous()
    assert labels.dtype == torch.int64 and labels.tolist() == [(2 * PER_SEVERITY + i) % 10 for i in range(4)]


def test_limit_and_labels_given_once(tmp_path):
    folder = write_release(tmp_path / "c", labels_once=True)
    images, labels = load_cifar_c(folder, "fog", 5, limit=3)
    assert images[:, 0, 0, 0].tolist() == [16, 17, 18]
    assert labels.tolist() == [0, 1, 2]


def test_lists_the_corruptions_present(tmp_path):
    folder = write_release(tmp_path / "c", names=("zoom_blur", "snow", "fog"))
    assert cifar_c_corruptions(folder) == ["zoom_blur", "snow", "fog"]
    assert len(CIFAR_C_CORRUPTIONS) == 19


def test_missing_folder_says_where_and_how_to_get_it(tmp_path):
    with pytest.raises(ConfigError) as error:
        load_cifar_c(tmp_path / "nowhere", "fog", 1)
    message = str(error.value)
    assert str(tmp_path / "nowhere") in message
    assert "labels.npy" in message and "<corruption>.npy" in message
    assert "zenodo.org/records/2535967" in message and "zenodo.org/records/3555552" in message


def test_missing_file_names_it_and_what_is_there(tmp_path):
    folder = write_release(tmp_path / "c", names=("fog",))
    with pytest.raises(ConfigError, match=r"contrast\.npy' not found \(present in the folder: fog\.npy, labels\.npy\)"):
        load_cifar_c(folder, "contrast", 1)
    (folder / "labels.npy").unlink()
    with pytest.raises(ConfigError, match=r"labels\.npy' not found"):
        load_cifar_c(folder, "fog", 1)


def test_bad_inputs(tmp_path):
    folder = write_release(tmp_path / "c")
    with pytest.raises(ConfigError, match="unknown CIFAR-C corruption 'rain'; allowed: gaussian_noise"):
        load_cifar_c(folder, "rain", 1)
    with pytest.raises(ConfigError, match="severity must be an integer 1..5, got 0"):
        load_cifar_c(folder, "fog", 0)
    np.save(folder / "fog.npy", np.zeros((7, 32, 32, 3), dtype=np.uint8))
    with pytest.raises(ConfigError, match=r"shape \(5 \* n, 32, 32, 3\)"):
        load_cifar_c(folder, "fog", 1)
    np.save(folder / "labels.npy", np.zeros(3))
    with pytest.raises(ConfigError, match="labels"):
        load_cifar_c(folder, "gaussian_noise", 1)
