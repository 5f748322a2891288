"""Data: bundled and generated datasets, stratified splits, subsets, resizing, the disk cache, missing files."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from PIL import Image

from actsearch.errors import ConfigError
from actsearch.trainers import DatasetNotFoundError, Task, load_data
from actsearch.trainers import datasets as datasets_module
from actsearch.trainers.indices import stratified_order


def test_digits_load_as_uint8_with_fixed_test_split():
    data = load_data(Task(dataset="digits"), "cpu")
    assert data.train_images.dtype == torch.uint8 and data.train_images.shape[1:] == (1, 8, 8)
    assert int(data.train_images.max()) == 255
    assert (len(data.train_labels), len(data.val_labels), len(data.test_labels)) == (1293, 144, 360)
    other_seed = load_data(Task(dataset="digits", seed=3), "cpu")
    assert torch.equal(data.test_labels.sort().values, other_seed.test_labels.sort().values)
    assert not torch.equal(data.val_labels, other_seed.val_labels)
    assert data.flip is False and data.num_classes == 10


def test_mean_and_std_come_from_the_training_split():
    data = load_data(Task(dataset="synthetic"), "cpu")
    pixels = data.train_images.double() / 255
    assert torch.allclose(data.mean.double(), pixels.mean(dim=(0, 2, 3)), atol=1e-5)
    assert torch.allclose(data.std.double(), pixels.std(dim=(0, 2, 3)), atol=1e-4)


def test_validation_split_is_stratified_and_seeded():
    data = load_data(Task(dataset="digits", val_fraction=0.2, seed=7), "cpu")
    train_counts = torch.bincount(data.train_labels, minlength=10).double()
    val_counts = torch.bincount(data.val_labels, minlength=10).double()
    share = val_counts / (val_counts + train_counts)
    assert torch.all((share - 0.2).abs() < 0.02)
    again = load_data(Task(dataset="digits", val_fraction=0.2, seed=7), "cpu")
    assert torch.equal(data.val_images, again.val_images)


def test_every_prefix_of_a_stratified_order_keeps_class_shares():
    labels = torch.tensor([0] * 600 + [1] * 300 + [2] * 100)
    order = stratified_order(labels, torch.Generator().manual_seed(0))
    assert sorted(order.tolist()) == list(range(1000))
    for k in (10, 50, 333):
        counts = torch.bincount(labels[order[:k]], minlength=3).double()
        assert torch.all((counts - k * torch.tensor([0.6, 0.3, 0.1])).abs() <= 1.0)


def test_train_subset_count_and_fraction_are_stratified():
    by_count = load_data(Task(dataset="digits", train_subset=200), "cpu")
    assert len(by_count.train_labels) == 200
    assert torch.all((torch.bincount(by_count.train_labels, minlength=10) - 20).abs() <= 1)
    by_fraction = load_data(Task(dataset="digits", train_subset=0.5), "cpu")
    assert len(by_fraction.train_labels) == round(1293 * 0.5)
    with pytest.raises(ConfigError, match="larger than the training split"):
        load_data(Task(dataset="digits", train_subset=5000), "cpu")


def test_image_size_resizes_every_split_once():
    data = load_data(Task(dataset="synthetic", image_size=24), "cpu")
    assert data.train_images.shape[-2:] == data.val_images.shape[-2:] == data.test_images.shape[-2:] == (24, 24)
    assert data.image_size == 24 and data.train_images.dtype == torch.uint8


def test_missing_torchvision_dataset_says_where_and_how(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        load_data(Task(dataset="cifar10", data_root=str(tmp_path)), "cpu")
    message = str(info.value)
    assert str(tmp_path) in message and "cifar-10-batches-py" in message
    assert "download: true" in message and "--download" in message
    assert isinstance(info.value, ConfigError)


def test_missing_imagefolder_says_what_layout_is_expected(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="has no train/ or test/ folder.*train/<class>/<image>"):
        load_data(Task(dataset="imagefolder", data_root=str(tmp_path)), "cpu")


def _write_image_folder(root, size=10, per_class=6):
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for label, name in enumerate(("cat", "dog", "emu")):
            folder = root / split / name
            folder.mkdir(parents=True)
            for index in range(per_class):
                pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
                pixels[..., label] = 255  # the class shows in one channel
                Image.fromarray(pixels).save(folder / f"{index}.png")


def test_imagefolder_is_decoded_once_then_read_from_the_cache(tmp_path, monkeypatch, capsys):
    _write_image_folder(tmp_path)
    decoded = []
    real_decode = datasets_module.decode_image
    monkeypatch.setattr(datasets_module, "decode_image", lambda path, size: decoded.append(path) or
                        real_decode(path, size))
    task = Task(dataset="imagefolder", data_root=str(tmp_path), image_size=8, val_fraction=0.34)
    first = load_data(task, "cpu")
    assert len(decoded) == 36
    said = capsys.readouterr().err
    assert f"decoding imagefolder from {tmp_path} once, for this and later runs" in said
    assert re.search(rf"decoded 36 images in [\d.]+ s, cached in {tmp_path / 'cache'}/imagefolder-\w+\.pt", said)
    assert first.classes == ["cat", "dog", "emu"] and first.train_images.shape[1:] == (3, 8, 8)
    assert list((tmp_path / "cache").glob("imagefolder-*.pt"))
    assert not list((tmp_path / "cache").glob("*.tmp"))

    def refuse(path, size):
        raise AssertionError("decoded again")

    monkeypatch.setattr(datasets_module, "decode_image", refuse)
    second = load_data(task, "cpu")
    assert "decod" not in capsys.readouterr().err
    assert torch.equal(first.train_images, second.train_images)
    assert torch.equal(first.test_labels, second.test_labels)
    assert bool((second.train_images[second.train_labels == 2][:, 2] >= 250).float().mean() > 0.9)


def test_loads_starting_together_decode_once(tmp_path, monkeypatch):
    _write_image_folder(tmp_path, per_class=2)
    decoded = []
    real_decode = datasets_module.decode_image

    def slow_decode(path, size):
        decoded.append(path)
        time.sleep(0.01)
        return real_decode(path, size)

    monkeypatch.setattr(datasets_module, "decode_image", slow_decode)
    task = Task(dataset="imagefolder", data_root=str(tmp_path), val_fraction=0.34)
    with ThreadPoolExecutor(max_workers=3) as pool:
        loaded = list(pool.map(lambda _: load_data(task, "cpu"), range(3)))
    assert len(decoded) == 12  # 6 train + 6 test images, once
    assert all(torch.equal(data.train_images, loaded[0].train_images) for data in loaded)


def test_unreadable_cache_is_decoded_again(tmp_path):
    _write_image_folder(tmp_path, per_class=2)
    task = Task(dataset="imagefolder", data_root=str(tmp_path), val_fraction=0.34)
    first = load_data(task, "cpu")
    (cache_file,) = (tmp_path / "cache").glob("*.pt")
    cache_file.write_bytes(b"not a tensor file")
    with pytest.warns(UserWarning, match="unreadable dataset cache"):
        again = load_data(task, "cpu")
    assert torch.equal(first.train_images, again.train_images)


def test_imagefolder_cache_is_keyed_by_image_size(tmp_path):
    _write_image_folder(tmp_path, per_class=3)
    native = load_data(Task(dataset="imagefolder", data_root=str(tmp_path), val_fraction=0.34), "cpu")
    small = load_data(Task(dataset="imagefolder", data_root=str(tmp_path), image_size=6, val_fraction=0.34), "cpu")
    assert native.image_size == 10 and small.image_size == 6
    assert len(list((tmp_path / "cache").glob("*.pt"))) == 2


def test_synthetic_dataset_is_generated_the_same_way_every_time():
    first = datasets_module.DATASETS["synthetic"].read(None, False, None)
    second = datasets_module.DATASETS["synthetic"].read(None, False, None)
    assert torch.equal(first.train_images, second.train_images)
    assert first.train_images.shape == (1000, 3, 16, 16) and len(first.classes) == 10


def _write_idx(path, array):
    dims = array.shape
    header = bytes([0, 0, 8, len(dims)]) + b"".join(int(d).to_bytes(4, "big") for d in dims)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def test_torchvision_dataset_is_read_from_its_files_and_cached(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, count in (("train", 40), ("t10k", 20)):
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (count, 28, 28)))
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", np.arange(count) % 10)
    task = Task(dataset="mnist", data_root=str(tmp_path), val_fraction=0.25)
    data = load_data(task, "cpu")
    assert data.train_images.shape == (30, 1, 28, 28) and len(data.val_labels) == 10 and len(data.test_labels) == 20
    assert data.flip is False
    assert list((tmp_path / "cache").glob("mnist-*.pt"))
    for path in raw.iterdir():
        path.unlink()
    assert torch.equal(load_data(task, "cpu").train_images, data.train_images)  # served from the cache


def test_failed_download_says_the_download_failed(tmp_path, monkeypatch):
    import torchvision.datasets

    def no_network(*args, **kwargs):
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz")  # what MNIST raises after its mirrors

    monkeypatch.setattr(torchvision.datasets, "MNIST", no_network)
    with pytest.raises(DatasetNotFoundError, match=r"downloading dataset 'mnist' into .* failed .*by hand"):
        load_data(Task(dataset="mnist", data_root=str(tmp_path), download=True), "cpu")


def test_unreadable_image_file_is_named(tmp_path):
    _write_image_folder(tmp_path, per_class=2)
    broken = tmp_path / "train" / "dog" / "broken.png"
    broken.write_bytes(b"not an image")
    with pytest.raises(ConfigError, match=r"cannot decode image .*broken\.png"):
        load_data(Task(dataset="imagefolder", data_root=str(tmp_path), val_fraction=0.34), "cpu")
