"""Divergence beyond NaN: a training loss that blew up while staying finite, or accuracy stuck at chance.

A trial that sits at chance with a loss of 81, or trains for epochs at a loss of 1e27 before the first NaN,
must not be scored as a result. :class:`DivergenceMonitor` watches what the loop already measures and raises
:class:`~actsearch.trainers.DivergenceError` with the reason:

- the mean loss since the last check is NaN or infinite;
- it exceeds ``divergence_loss_factor`` times the larger of the first step's loss and ln(classes) (the loss
  of a uniform guess), so a network that starts badly is not held to a stricter limit than a fresh one;
- after ``chance_patience_epochs`` epochs, validation accuracy is still at chance (at most
  :data:`CHANCE_MARGIN` times 1/classes).

Both limits come from the trial's hyperparameters (:data:`~actsearch.trainers.DEFAULT_HPARAMS`); 0 turns a
check off.

Example::

    >>> import torch
    >>> monitor = DivergenceMonitor({"divergence_loss_factor": 10.0, "chance_patience_epochs": 2}, classes=10)
    >>> monitor.check_loss(torch.tensor(2.3), steps=1, epoch=1)  # the first step sets the reference
    >>> monitor.check_loss(torch.tensor(90.0), steps=2, epoch=1)
    Traceback (most recent call last):
    ...
    actsearch.trainers.result.DivergenceError: loss 87.7 is above 10 x its starting value 2.3 at epoch 1
    >>> monitor.check_accuracy(0.1, epoch=2)
    Traceback (most recent call last):
    ...
    actsearch.trainers.result.DivergenceError: validation accuracy 10.0% is at chance (10 classes) at epoch 2
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch

from actsearch.trainers.result import DivergenceError

__all__ = ["CHANCE_MARGIN", "DivergenceMonitor"]

# "At chance": validation accuracy no better than this multiple of 1/classes (12% for 10 classes).
CHANCE_MARGIN = 1.2


class DivergenceMonitor:
    """Checks one trial's running loss sum (per epoch) and its validation accuracy after each epoch."""

    def __init__(self, hparams: Mapping[str, object], classes: int) -> None:
        self.loss_factor = float(hparams["divergence_loss_factor"])
        self.patience = int(hparams["chance_patience_epochs"])
        self.classes = classes
        self.reference: float | None = None  # the larger of the first step's loss and ln(classes)
        self._last_sum = 0.0
        self._last_steps = 0

    @property
    def needs_reference(self) -> bool:
        """True until the first step's loss was seen (the loop checks that step whatever its check interval)."""
        return self.reference is None and self.loss_factor > 0

    def start_epoch(self) -> None:
        self._last_sum, self._last_steps = 0.0, 0

    def check_loss(self, loss_sum: torch.Tensor, *, steps: int, epoch: int) -> None:
        """``loss_sum``: the epoch's summed batch losses after ``steps`` steps. One host sync."""
        total = float(loss_sum.item())
        if not math.isfinite(total):
            raise DivergenceError("nan" if math.isnan(total) else "inf", epoch)
        window = max(steps - self._last_steps, 1)
        mean = (total - self._last_sum) / window
        self._last_sum, self._last_steps = total, steps
        if self.reference is None:
            self.reference = max(mean, math.log(max(self.classes, 2)))
            return
        if self.loss_factor > 0 and mean > self.loss_factor * self.reference:
            raise DivergenceError(
                "finite", epoch,
                reason=f"loss {mean:.3g} is above {self.loss_factor:g} x its starting value {self.reference:.3g}")

    def check_accuracy(self, val_accuracy: float, *, epoch: int) -> None:
        """After an epoch: accuracy still at chance once ``chance_patience_epochs`` epochs have passed."""
        if not self.patience or epoch < self.patience:
            return
        if val_accuracy <= CHANCE_MARGIN / self.classes:
            raise DivergenceError(
                "chance", epoch,
                reason=f"validation accuracy {100 * val_accuracy:.1f}% is at chance ({self.classes} classes)")
