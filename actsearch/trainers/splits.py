"""Seeded stratified orderings: every prefix of the order holds each class in proportion.

One ordering serves the validation split, the training subset and the images picked for corrupted
evaluation: take the first ``k`` indices and the classes keep their shares (to within one image each).

Example::

    >>> import torch
    >>> from actsearch.trainers.splits import stratified_order
    >>> labels = torch.tensor([0] * 8 + [1] * 2)
    >>> order = stratified_order(labels, torch.Generator().manual_seed(0))
    >>> sorted(labels[order[:5]].tolist())
    [0, 0, 0, 0, 1]
"""

from __future__ import annotations

import torch

__all__ = ["stratified_order"]


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
