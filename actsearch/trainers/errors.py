"""Why a trial stopped early: divergence, out of memory, or data that is not there.

Example::

    >>> from actsearch.trainers.errors import DivergenceError
    >>> str(DivergenceError("nan", epoch=3))
    'loss became nan at epoch 3'
"""

from __future__ import annotations

from actsearch.errors import ActsearchError, ConfigError

__all__ = ["DatasetNotFoundError", "DivergenceError", "TrialOutOfMemoryError"]


class DivergenceError(ActsearchError):
    """The training loss became NaN or infinite; ``epoch`` is the 1-based epoch where it was seen."""

    def __init__(self, value: str, epoch: int) -> None:
        super().__init__(f"loss became {value} at epoch {epoch}")
        self.value = value
        self.epoch = epoch

    def __reduce__(self):
        return (type(self), (self.value, self.epoch))


class TrialOutOfMemoryError(ActsearchError):
    """The accelerator ran out of memory: the configuration does not fit next to the others on the device."""


class DatasetNotFoundError(ConfigError):
    """The dataset files are missing: the message says where we looked and how to get them."""
