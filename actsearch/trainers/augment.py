"""Batched data augmentation on the device: random crop with padding, horizontal flip, cutout.

The whole batch is transformed by one gather: each image gets a random offset (crop) and a random mirror
(flip) folded into per-image row/column index maps, so there is no padding copy and no per-image Python.
Works on uint8 images; cutout fills its square with the dataset mean, which is 0 after normalization.

Example::

    >>> import torch
    >>> from actsearch.trainers.augment import Augmentation
    >>> images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    >>> out = Augmentation(padding=4, flip=True)(images, torch.Generator().manual_seed(0))
    >>> out.shape, out.dtype
    (torch.Size([4, 3, 32, 32]), torch.uint8)
"""

from __future__ import annotations

import dataclasses

import torch

__all__ = ["Augmentation", "default_padding"]


def default_padding(image_size: int) -> int:
    """Random-crop padding scaled from the usual 4 px for 32 px images (at least 1 px)."""
    return max(1, round(4 * image_size / 32))


@dataclasses.dataclass(frozen=True)
class Augmentation:
    """``padding`` px crop (``mode`` "reflect" or "zero"), optional horizontal ``flip``, ``cutout`` px square.

    ``fill`` is the uint8 value per channel for cutout (the dataset mean); ``None`` fills with 0.
    """

    padding: int = 0
    mode: str = "reflect"
    flip: bool = False
    cutout: int = 0
    fill: torch.Tensor | None = None

    @property
    def active(self) -> bool:
        return bool(self.padding or self.flip or self.cutout)

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Augment a (N, C, H, W) batch; returns a new tensor, laid out channels-last in memory."""
        if not self.active:
            return images
        n, _, height, width = images.shape
        device = images.device
        rows = torch.arange(height, device=device).expand(n, height)
        cols = torch.arange(width, device=device).expand(n, width)
        if self.padding:
            shift = torch.randint(-self.padding, self.padding + 1, (2, n, 1), generator=generator, device=device)
            rows, cols = rows + shift[0], cols + shift[1]
        if self.flip:
            mirrored = torch.rand(n, 1, generator=generator, device=device) < 0.5
            cols = torch.where(mirrored, width - 1 - cols, cols)
        outside = None
        if self.padding and self.mode == "zero":
            outside = ((rows < 0) | (rows >= height))[:, :, None] | ((cols < 0) | (cols >= width))[:, None, :]
        rows, cols = _reflect(rows, height), _reflect(cols, width)
        batch = torch.arange(n, device=device)[:, None, None]
        out = images[batch, :, rows[:, :, None], cols[:, None, :]]  # (N, H, W, C)
        if outside is not None:
            out = out.masked_fill(outside[..., None], 0)
        if self.cutout:
            out = self._cutout(out, generator)
        return out.permute(0, 3, 1, 2)

    def _cutout(self, images_nhwc: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n, height, width, channels = images_nhwc.shape
        device = images_nhwc.device
        centre = torch.rand(2, n, 1, generator=generator, device=device)
        top = (centre[0] * height).long() - self.cutout // 2
        left = (centre[1] * width).long() - self.cutout // 2
        rows = torch.arange(height, device=device)
        cols = torch.arange(width, device=device)
        inside_rows = (rows >= top) & (rows < top + self.cutout)
        inside_cols = (cols >= left) & (cols < left + self.cutout)
        square = inside_rows[:, :, None] & inside_cols[:, None, :]
        fill = self.fill.to(device) if self.fill is not None else torch.zeros(channels, dtype=images_nhwc.dtype,
                                                                             device=device)
        return torch.where(square[..., None], fill, images_nhwc)


def _reflect(index: torch.Tensor, size: int) -> torch.Tensor:
    """Mirror out-of-range indices back inside (reflect padding, edge not repeated); padding < size assumed."""
    index = index.abs()
    return torch.where(index >= size, 2 * (size - 1) - index, index).clamp_(0, size - 1)
