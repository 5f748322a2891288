"""The official CIFAR-10-C / CIFAR-100-C files from a tiny fake release folder: reading, finding, downloading
(the network call mocked) and scoring a trial on them."""

from __future__ import annotations

from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch

from actsearch.errors import ConfigError
from actsearch.trainers import Task, load_data, run_trial
from actsearch.trainers.cifar_c import CIFAR_C_CORRUPTIONS, cifar_c_corruptions, find_cifar_c, load_cifar_c
from actsearch.trainers.command import format_report

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


def test_find_names_the_folder_it_looked_in_and_how_to_get_the_files(tmp_path):
    with pytest.raises(ConfigError) as error:
        find_cifar_c("cifar10", tmp_path)
    message = str(error.value)
    assert f"CIFAR-C folder {str(tmp_path / 'CIFAR-10-C')!r} does not exist" in message
    assert "download: true" in message and "--download" in message
    assert "https://zenodo.org/records/2535967/files/CIFAR-10-C.tar" in message
    write_release(tmp_path / "CIFAR-100-C", names=CIFAR_C_CORRUPTIONS[:-1])
    with pytest.raises(ConfigError, match=r"CIFAR-100-C' lacks saturate\.npy; .*records/3555552"):
        find_cifar_c("cifar100", tmp_path)
    with pytest.raises(ConfigError, match="exist for cifar10 and cifar100 only, not for dataset 'digits'"):
        find_cifar_c("digits", tmp_path)


def test_download_goes_through_torchvision_with_the_md5(tmp_path, monkeypatch):
    calls = []

    def fake_download(url, download_root, filename=None, md5=None, remove_finished=False, **kwargs):
        calls.append((url, Path(download_root), filename, md5, remove_finished))
        write_release(Path(download_root) / "CIFAR-10-C", names=CIFAR_C_CORRUPTIONS)

    monkeypatch.setattr("actsearch.trainers.cifar_c.download_and_extract_archive", fake_download)
    folder = find_cifar_c("cifar10", tmp_path, download=True)
    assert folder == tmp_path / "CIFAR-10-C" and cifar_c_corruptions(folder) == list(CIFAR_C_CORRUPTIONS)
    assert calls == [("https://zenodo.org/records/2535967/files/CIFAR-10-C.tar", tmp_path, "CIFAR-10-C.tar",
                      "56bf5dcef84df0e2308c6dcbcbbd8499", True)]
    assert find_cifar_c("cifar10", tmp_path, download=True) == folder and len(calls) == 1  # present: no download


def test_a_failed_download_is_a_config_error(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise URLError("no route to host")

    monkeypatch.setattr("actsearch.trainers.cifar_c.download_and_extract_archive", offline)
    with pytest.raises(ConfigError, match=r"could not download https://zenodo.org/records/3555552/files/CIFAR-100-C"
                                          r"\.tar .*no route to host.*MD5 11f0ed0f1191edbf9fa23466ae6021d3"):
        find_cifar_c("cifar100", tmp_path, download=True)


def test_a_trial_scores_the_release_files_end_to_end(tmp_path):
    write_release(tmp_path / "CIFAR-10-C", names=CIFAR_C_CORRUPTIONS)
    data = load_data(Task(dataset="synthetic", image_size=32, device="cpu"), "cpu")
    task = Task(dataset="cifar10", data_root=str(tmp_path), network="smallcnn", epochs=1, device="cpu",
                corruptions="cifar-c", severities=(1, 5), corruption_images=3)
    result = run_trial(task, "relu", data=data)
    corrupted = result.corrupted
    assert list(corrupted["per_corruption"]) == list(CIFAR_C_CORRUPTIONS)
    assert list(corrupted["per_severity"]) == ["1", "5"]
    assert all(value in (0, 1 / 3, 2 / 3, 1) for entry in corrupted["per_corruption"].values()
               for value in entry["per_severity"].values())
    assert result.corrupted_accuracy == corrupted["mean"]
    report = {"task": task.to_dict(), "plan": {"default": {"family": "relu"}}, "result": result.to_dict()}
    assert "corrupted accuracy (official CIFAR-10-C files)" in format_report(report)
    with pytest.raises(ConfigError, match="image_size = 24 but the official CIFAR-C images are 32x32"):
        run_trial(task.replace(image_size=24), "relu", data=data)
    with pytest.raises(ConfigError, match="CIFAR-100-C' does not exist"):
        run_trial(task.replace(dataset="cifar100"), "relu", data=data)
