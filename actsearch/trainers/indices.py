"""Which images, in which order: seeded stratified orderings and the epoch's index batches.

One stratified ordering serves the validation split, the training subset and the images picked for
corrupted evaluation: take the first ``k`` indices and the classes keep their shares (to within one image
each). Training batches are a seeded permutation drawn on the device, cut into index batches.

Example::

    >>> import torch
    >>> from actsearch.trainers.indices import epoch_batches, stratified_order
    >>> labels = torch.tensor([0] * 8 + [1] * 2)
    >>> order = stratified_order(labels, torch.Generator().manual_seed(0))
    >>> sorted(labels[order[:5]].tolist())
    [0, 0, 0, 0, 1]
    >>> [len(b) for b in epoch_batches(10, 4, torch.Generator().manual_seed(0))]
    [4, 4]
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

__all__ = ["epoch_batches", "steps_per_epoch", "stratified_order"]


def stratified_order(labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A permutation of ``range(len(labels))`` interleaving the classes in proportion to their sizes.

    Each image of class ``c`` gets the key ``(rank + u) / n_c`` with ``rank`` its random rank in the class and
    ``u`` uniform in [0, 1); sorting by key spreads every class evenly over the order.
    """
    labels = labels.cpu()
    n = labels.numel()
    shuffled = torch.randperm(n, generator=generator)
    shuffled_labels = labels[shuffled]
    by_class = torch.argsort(shuffled_labels, stable=True)
    counts = torch.bincount(shuffled_labels)
    class_start = torch.cumsum(counts, 0) - counts
    rank = torch.empty(n, dtype=torch.long)
    rank[by_class] = torch.arange(n) - class_start[shuffled_labels[by_class]]
    keys = (rank.double() + torch.rand(n, generator=generator, dtype=torch.float64)) / counts[shuffled_labels]
    return shuffled[torch.argsort(keys)]



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
