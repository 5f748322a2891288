"""The one switch for every fast kernel: ``ACTSEARCH_NATIVE_KERNELS=0`` (or false, no) in the environment, or the
:func:`disabled` context, makes LayerAct, ANAct and APALU run their PyTorch implementations.

Example::

    from actsearch.activations.kernels import disabled, switched_on
    with disabled():
        assert not switched_on()        # e.g. to compare against the PyTorch implementation
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

__all__ = ["disabled", "switched_on"]

_disabled_depth = 0


def switched_on() -> bool:
    """False inside :func:`disabled` or with ``ACTSEARCH_NATIVE_KERNELS=0`` (or false, no)."""
    if _disabled_depth:
        return False
    switch = os.environ.get("ACTSEARCH_NATIVE_KERNELS")
    return switch is None or switch.strip().lower() not in ("0", "false", "no")


@contextlib.contextmanager
def disabled() -> Iterator[None]:
    """Run the block with the PyTorch implementations (for comparisons and tests)."""
    global _disabled_depth
    _disabled_depth += 1
    try:
        yield
    finally:
        _disabled_depth -= 1
