"""Evaluation of a trained network: clean accuracy and per-image latency.

Images stay uint8 on the device until :class:`Preprocess` turns a batch into normalized floats.

Example::

    >>> import torch, torch.nn as nn
    >>> from actsearch.trainers.evaluate import Preprocess, evaluate
    >>> preprocess = Preprocess(torch.tensor([0.5]), torch.tensor([0.25]))
    >>> model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    >>> accuracy, loss = evaluate(model, torch.zeros(6, 1, 2, 2, dtype=torch.uint8), torch.zeros(6, dtype=torch.long),
    ...                           preprocess, batch_size=4)
    >>> 0.0 <= accuracy <= 1.0
    True
"""

from __future__ import annotations

import contextlib
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["Preprocess", "evaluate", "measure_latency", "synchronize"]


class Preprocess:
    """uint8 (N, C, H, W) -> float32 ``(x / 255 - mean) / std`` in ``memory_format``, under ``autocast`` if set."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, *, memory_format: torch.memory_format =
                 torch.contiguous_format, autocast_dtype: torch.dtype | None = None) -> None:
        self.mean, self.std = mean, std
        self.scale = (1 / (255 * std)).view(1, -1, 1, 1)
        self.shift = (mean / std).view(1, -1, 1, 1)
        self.memory_format = memory_format
        self.autocast_dtype = autocast_dtype

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        out = images.to(torch.float32).contiguous(memory_format=self.memory_format)
        return out.mul_(self.scale).sub_(self.shift)

    def autocast(self, device: torch.device) -> contextlib.AbstractContextManager:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=self.autocast_dtype)


@torch.no_grad()
def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, preprocess: Preprocess, *,
             batch_size: int) -> tuple[float, float]:
    """(accuracy in [0, 1], mean cross-entropy) of ``model`` in eval mode on uint8 ``images``."""
    was_training = model.training
    model.eval()
    correct = torch.zeros((), dtype=torch.long, device=images.device)
    loss = torch.zeros((), dtype=torch.float32, device=images.device)
    try:
        for start in range(0, len(images), batch_size):
            batch_labels = labels[start:start + batch_size]
            with preprocess.autocast(images.device):
                logits = model(preprocess(images[start:start + batch_size]))
            loss += F.cross_entropy(logits.float(), batch_labels, reduction="sum")
            correct += (logits.argmax(dim=1) == batch_labels).sum()
    finally:
        model.train(was_training)
    count = max(len(images), 1)
    return correct.item() / count, loss.item() / count


@torch.no_grad()
def measure_latency(model: nn.Module, images: torch.Tensor, preprocess: Preprocess, *, repeats: int = 3) -> float:
    """Milliseconds per image of one eval-mode forward pass on the batch ``images`` (best of ``repeats``)."""
    was_training = model.training
    model.eval()
    try:
        batch = preprocess(images)
        timings = []
        for _ in range(repeats + 1):  # the first pass warms up kernels and caches
            synchronize(images.device)
            start = time.perf_counter()
            with preprocess.autocast(images.device):
                model(batch)
            synchronize(images.device)
            timings.append(time.perf_counter() - start)
    finally:
        model.train(was_training)
    return 1000 * min(timings[1:]) / max(len(images), 1)


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (for honest timings); a no-op on the CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
