"""Tell a broken setup from bad configurations: the first trials of a run all failing the same way.

When the first trials of a run fail with one error message although their configurations differ, the
cause is not the configurations but something they share (the device, the data, an installation): every
further trial would fail too. The driver then stops with that message and queues the failed trials again,
so that the run after the fix still evaluates them (the baselines first).

Example:
    >>> watch = EarlyFailures(window=2)
    >>> watch.observe(0, {"lr": 0.1}, "error", "error: RuntimeError: no CUDA") is None
    True
    >>> watch.observe(1, {"lr": 0.2}, "error", "error: RuntimeError: no CUDA")
    'error: RuntimeError: no CUDA'
    >>> watch.numbers
    [0, 1]
"""

from __future__ import annotations

import json

__all__ = ["EarlyFailures"]

# Failures a configuration causes by itself (a diverging activation), or that are retried anyway.
_CONFIGURATION_KINDS = ("diverged", "out_of_memory", "worker_died", "missing_dataset")


class EarlyFailures:
    """Watches the first ``window`` outcomes of a run; stops watching at the first that breaks the pattern."""

    def __init__(self, window: int = 3) -> None:
        self.window = window
        self.numbers: list[int] = []
        self._configs: set[str] = set()
        self._reason: str | None = None
        self._watching = True

    def observe(self, number: int, config: dict, fail_kind: str | None, fail_reason: str | None) -> str | None:
        """Record a finished trial (``fail_kind`` None when it did not fail); returns the shared reason once the
        first ``window`` trials all failed with it for at least two configurations."""
        if not self._watching:
            return None
        if fail_kind is None or fail_kind in _CONFIGURATION_KINDS or self._reason not in (None, fail_reason):
            self._watching = False
            return None
        self._reason = fail_reason
        self.numbers.append(number)
        self._configs.add(json.dumps(config, sort_keys=True, default=str))
        if len(self.numbers) < self.window:
            return None
        self._watching = False
        return fail_reason if len(self._configs) > 1 else None
