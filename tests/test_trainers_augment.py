"""Batched augmentation: shapes and labels kept, pixels moved, each transform doing what it says."""

from __future__ import annotations

import torch

from actsearch.trainers.augment import Augmentation, default_padding
from actsearch.trainers.indices import epoch_batches, steps_per_epoch


def _images(n=64, size=16):
    return torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))


def test_crop_and_flip_keep_shape_dtype_and_move_pixels():
    images = _images()
    out = Augmentation(padding=2, flip=True)(images, torch.Generator().manual_seed(0))
    assert out.shape == images.shape and out.dtype == torch.uint8
    changed = (out != images).flatten(1).any(dim=1)
    assert changed.float().mean() > 0.8


def test_augmentation_is_reproducible_from_the_generator():
    images = _images()
    augment = Augmentation(padding=2, flip=True, cutout=4)
    first = augment(images, torch.Generator().manual_seed(5))
    assert torch.equal(first, augment(images, torch.Generator().manual_seed(5)))
    assert not torch.equal(first, augment(images, torch.Generator().manual_seed(6)))


def test_flip_alone_mirrors_about_half_the_images():
    images = _images(200)
    out = Augmentation(flip=True)(images, torch.Generator().manual_seed(0))
    mirrored = (out == images.flip(-1)).flatten(1).all(dim=1)
    untouched = (out == images).flatten(1).all(dim=1)
    assert bool((mirrored | untouched).all())
    assert 60 < int(mirrored.sum()) < 140


def test_crop_matches_padding_then_cropping_at_the_drawn_offset():
    image = torch.arange(36, dtype=torch.uint8).view(1, 1, 6, 6).expand(300, 3, 6, 6).contiguous()
    for mode, pad_mode in (("reflect", "reflect"), ("zero", "constant")):
        out = Augmentation(padding=2, mode=mode)(image, torch.Generator().manual_seed(0))
        padded = torch.nn.functional.pad(image[:1].float(), (2, 2, 2, 2), mode=pad_mode)[0].to(torch.uint8)
        offsets = set()
        for crop in out:
            centre = int(crop[0, 2, 2])  # always inside the image for offsets within +-2
            dy, dx = centre // 6 - 2, centre % 6 - 2
            offsets.add((dy, dx))
            assert torch.equal(crop, padded[:, 2 + dy:8 + dy, 2 + dx:8 + dx])
        assert len(offsets) == 25


def test_cutout_fills_one_square_with_the_fill_value():
    images = torch.full((32, 3, 16, 16), 200, dtype=torch.uint8)
    fill = torch.tensor([10, 20, 30], dtype=torch.uint8)
    out = Augmentation(cutout=4, fill=fill)(images, torch.Generator().manual_seed(0))
    filled = (out == fill.view(1, 3, 1, 1)).all(dim=1)
    per_image = filled.flatten(1).sum(dim=1)
    assert bool(((per_image >= 4) & (per_image <= 16)).all())  # a 4x4 square, clipped at the border
    assert bool(((out == 200) | filled.unsqueeze(1)).all())


def test_default_padding_scales_with_image_size():
    assert [default_padding(s) for s in (8, 28, 32, 64)] == [1, 4, 4, 8]


def test_epoch_batches_cover_each_index_once_and_drop_the_remainder():
    batches = list(epoch_batches(10, 3, torch.Generator().manual_seed(0)))
    assert len(batches) == steps_per_epoch(10, 3) == 3
    seen = torch.cat(batches)
    assert len(set(seen.tolist())) == 9
    assert [len(b) for b in epoch_batches(5, 8, torch.Generator().manual_seed(0))] == [5]
