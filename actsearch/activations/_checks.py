"""Validation of family constructor arguments, raising :class:`ActivationSpecError` with what is allowed."""

from __future__ import annotations

from collections.abc import Sequence

from actsearch.activations.registry import ActivationSpecError


def check_choice(family: str, name: str, value: object, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ActivationSpecError(
            f"{family}: {name}={value!r} is not allowed; allowed: {', '.join(repr(a) for a in allowed)}"
        )
    return value


def check_number(family: str, name: str, value: object, *, low: float | None = None, high: float | None = None,
                 low_inclusive: bool = True, high_inclusive: bool = True) -> float:
    bounds = []
    if low is not None:
        bounds.append(f"{'>=' if low_inclusive else '>'} {low}")
    if high is not None:
        bounds.append(f"{'<=' if high_inclusive else '<'} {high}")
    allowed = "a number" + (f" {' and '.join(bounds)}" if bounds else "")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ActivationSpecError(f"{family}: {name}={value!r} is not allowed; allowed: {allowed}")
    value = float(value)
    too_low = low is not None and (value < low if low_inclusive else value <= low)
    too_high = high is not None and (value > high if high_inclusive else value >= high)
    if too_low or too_high or value != value:
        raise ActivationSpecError(f"{family}: {name}={value!r} is not allowed; allowed: {allowed}")
    return value


def check_bool(family: str, name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ActivationSpecError(f"{family}: {name}={value!r} is not allowed; allowed: true or false")
    return value


def check_channels(family: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ActivationSpecError(
            f"{family}: num_channels={value!r} is not allowed; allowed: a positive integer or null"
        )
    return value
