"""The in-memory batch iterator: a seeded permutation drawn on the device, cut into index batches.

Example::

    >>> import torch
    >>> from actsearch.trainers.batches import epoch_batches
    >>> [len(b) for b in epoch_batches(10, 4, torch.Generator().manual_seed(0))]
    [4, 4]
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

__all__ = ["epoch_batches", "steps_per_epoch"]


def steps_per_epoch(count: int, batch_size: int) -> int:
    """Full batches per epoch; a set smaller than one batch is one batch."""
    return max(1, count // batch_size)


def epoch_batches(count: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Yield :func:`steps_per_epoch` index tensors of a fresh permutation of ``range(count)``.

    The last partial batch is dropped (a batch of one image would break BatchNorm); the permutation lives on the
    generator's device, so indexing device tensors with it never leaves the device.
    """
    order = torch.randperm(count, generator=generator, device=generator.device)
    size = min(batch_size, count)
    for step in range(steps_per_epoch(count, batch_size)):
        yield order[step * size:(step + 1) * size]
