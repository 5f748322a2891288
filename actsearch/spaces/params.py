"""The four kinds of parameter a search space holds: float range, int range, categorical, fixed.

In a study file a range is written ``{low, high, log?, step?}`` (float or int by the type of ``low`` and
``high``, or by the parameter's default), a categorical ``{choices: [...]}``, and anything else is a fixed
value that goes straight into the configuration without being suggested.

Example:
    >>> import optuna
    >>> lr = parse_parameter({"low": 0.01, "high": 0.3, "log": True})
    >>> lr
    FloatRange(low=0.01, high=0.3, log=True, step=None)
    >>> 0.01 <= lr.suggest(optuna.trial.FixedTrial({"train.lr": 0.05}), "train.lr") <= 0.3
    True
    >>> parse_parameter({"choices": ["sigmoid", "hardsigmoid"]}).contains("sigmoid")
    True
    >>> round(lr.centre(), 4)  # the geometric middle of a log range
    0.0548
"""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from actsearch.errors import ConfigError
from actsearch.errors import is_number
from actsearch.spaces.errors import Problems, SearchSpaceError, unknown_name

__all__ = ["Categorical", "Fixed", "FloatRange", "IntRange", "Parameter", "matches_type", "parse_parameter"]

RANGE_KEYS = ("low", "high", "log", "step")
CATEGORICAL_KEYS = ("choices",)
NO_DEFAULT = object()
"""Marks a parameter whose default value (and so whose type) is unknown."""


def _same(a: object, b: object) -> bool:
    """Equality that keeps ``True`` apart from ``1``."""
    return isinstance(a, bool) == isinstance(b, bool) and a == b


def matches_type(value: object, default: object) -> bool:
    """Whether ``value`` has the kind (bool, number, string) of ``default``; any value fits a None default."""
    if default is NO_DEFAULT or default is None:
        return True
    if isinstance(default, bool):
        return isinstance(value, bool)
    if is_number(default):
        return is_number(value)
    if isinstance(default, str):
        return isinstance(value, str)
    return True


class Parameter(abc.ABC):
    """A value of the space: suggested through an Optuna trial, or fixed."""

    suggested: ClassVar[bool] = True

    @abc.abstractmethod
    def suggest(self, trial: Any, name: str) -> Any:
        """Value for ``name`` from ``trial`` (an Optuna Trial or FixedTrial)."""

    @abc.abstractmethod
    def contains(self, value: object) -> bool:
        """Whether ``value`` is one this parameter can take."""

    @abc.abstractmethod
    def describe(self) -> str:
        """Short human-readable form, as shown by ``actsearch validate``."""

    @abc.abstractmethod
    def centre(self) -> Any:
        """A representative value: the middle of a range (geometric for a log range), the first choice."""

    def _checked(self, name: str, value: Any) -> Any:
        if not self.contains(value):
            raise ConfigError(f"parameter {name!r} = {value!r} is outside the space ({self.describe()})")
        return value


def _check_bounds(low: object, high: object, log: object) -> None:
    if not is_number(low) or not is_number(high):
        raise ConfigError(f"low and high must be numbers (got low={low!r}, high={high!r})")
    if not math.isfinite(low) or not math.isfinite(high):
        raise ConfigError(f"low and high must be finite (got low={low!r}, high={high!r})")
    if low >= high:
        raise ConfigError(f"low ({low!r}) must be below high ({high!r})")
    if not isinstance(log, bool):
        raise ConfigError(f"log must be true or false (got {log!r})")
    if log and low <= 0:
        raise ConfigError(f"a log range needs low > 0 (got low={low!r})")


@dataclass(frozen=True)
class FloatRange(Parameter):
    """Float in ``[low, high]``, sampled on a log scale when ``log``, on a grid of ``step`` when given."""

    low: float
    high: float
    log: bool = False
    step: float | None = None

    def __post_init__(self) -> None:
        _check_bounds(self.low, self.high, self.log)
        if self.step is not None:
            if not is_number(self.step) or self.step <= 0:
                raise ConfigError(f"step must be a positive number (got {self.step!r})")
            if self.log:
                raise ConfigError("step cannot be combined with log: choose one")

    def suggest(self, trial: Any, name: str) -> float:
        return self._checked(name, trial.suggest_float(name, self.low, self.high, log=self.log, step=self.step))

    def contains(self, value: object) -> bool:
        if not is_number(value):
            return False
        tolerance = 1e-9 * max(abs(self.low), abs(self.high))
        if not self.low - tolerance <= value <= self.high + tolerance:
            return False
        if self.step is None:
            return True
        steps = (value - self.low) / self.step
        return abs(steps - round(steps)) < 1e-6

    def describe(self) -> str:
        scale = ", log" if self.log else (f", step {self.step}" if self.step is not None else "")
        return f"float [{self.low}, {self.high}{scale}]"

    def centre(self) -> float:
        if self.log:
            return math.sqrt(self.low * self.high)
        middle = (self.low + self.high) / 2
        return middle if self.step is None else self.low + round((middle - self.low) / self.step) * self.step


@dataclass(frozen=True)
class IntRange(Parameter):
    """Integer in ``[low, high]`` by ``step``, sampled on a log scale when ``log``."""

    low: int
    high: int
    log: bool = False
    step: int = 1

    def __post_init__(self) -> None:
        _check_bounds(self.low, self.high, self.log)
        if not isinstance(self.low, int) or not isinstance(self.high, int):
            raise ConfigError(f"an int range needs integer bounds (got low={self.low!r}, high={self.high!r})")
        if not isinstance(self.step, int) or isinstance(self.step, bool) or self.step < 1:
            raise ConfigError(f"step of an int range must be a positive integer (got {self.step!r})")
        if self.log and self.step != 1:
            raise ConfigError("step cannot be combined with log: choose one")

    def suggest(self, trial: Any, name: str) -> int:
        return self._checked(name, trial.suggest_int(name, self.low, self.high, log=self.log, step=self.step))

    def contains(self, value: object) -> bool:
        if not is_number(value) or value != int(value):
            return False
        return self.low <= value <= self.high and (int(value) - self.low) % self.step == 0

    def describe(self) -> str:
        scale = ", log" if self.log else (f", step {self.step}" if self.step != 1 else "")
        return f"int [{self.low}, {self.high}{scale}]"

    def centre(self) -> int:
        middle = math.sqrt(self.low * self.high) if self.log else (self.low + self.high) / 2
        return self.low + round((middle - self.low) / self.step) * self.step


@dataclass(frozen=True)
class Categorical(Parameter):
    """One of ``choices`` (None, bool, int, float or str values, as Optuna requires)."""

    choices: tuple[Any, ...]

    def __post_init__(self) -> None:
        if isinstance(self.choices, (str, bytes)) or not isinstance(self.choices, Sequence):
            raise ConfigError(f"choices must be a list (got {self.choices!r})")
        object.__setattr__(self, "choices", tuple(self.choices))
        if not self.choices:
            raise ConfigError("choices must not be empty")
        for choice in self.choices:
            if choice is not None and not isinstance(choice, (bool, int, float, str)):
                raise ConfigError(f"choices must be plain values (null, bool, number or string); got {choice!r}")
        for index, choice in enumerate(self.choices):
            if any(_same(choice, other) for other in self.choices[:index]):
                raise ConfigError(f"choice {choice!r} is listed twice")

    def suggest(self, trial: Any, name: str) -> Any:
        return self._checked(name, trial.suggest_categorical(name, self.choices))

    def contains(self, value: object) -> bool:
        return any(_same(value, choice) for choice in self.choices)

    def describe(self) -> str:
        return f"one of [{', '.join(map(str, self.choices))}]"

    def centre(self) -> Any:
        return self.choices[0]


@dataclass(frozen=True)
class Fixed(Parameter):
    """A value that is not searched: it goes into every configuration as it is."""

    value: Any
    suggested: ClassVar[bool] = False

    def suggest(self, trial: Any, name: str) -> Any:
        return self.value

    def contains(self, value: object) -> bool:
        return _same(value, self.value)

    def describe(self) -> str:
        return f"fixed {self.value!r}"

    def centre(self) -> Any:
        return self.value


def parse_parameter(value: object, *, default: object = NO_DEFAULT) -> Parameter:
    """Parameter written as in a study file; ``default`` (when known) decides int vs float and checks types.

    Raises :class:`SearchSpaceError` whose key paths are relative to the parameter (``low``, ``choices``).
    """
    problems = Problems()
    if not isinstance(value, Mapping):
        if not matches_type(value, default):
            problems.add("", f"{value!r} does not match the type of the default {default!r}")
        problems.raise_if_any()
        return Fixed(value)
    for key in value:
        if key not in RANGE_KEYS + CATEGORICAL_KEYS:
            problems.add(str(key), unknown_name("key", key, RANGE_KEYS + CATEGORICAL_KEYS))
    if "choices" in value and any(key in value for key in RANGE_KEYS):
        problems.add("", "a parameter is either a range {low, high, log, step} or a categorical {choices}, not both")
    problems.raise_if_any()
    if "choices" in value:
        return _categorical(value["choices"], default)
    if "low" not in value or "high" not in value:
        raise SearchSpaceError([("", "a range needs both low and high, e.g. {low: 0.01, high: 0.3, log: true}")])
    return _range(value, default)


def _categorical(choices: object, default: object) -> Categorical:
    try:
        parameter = Categorical(choices)
    except ConfigError as error:
        raise SearchSpaceError([("choices", str(error))]) from None
    wrong = [choice for choice in parameter.choices if not matches_type(choice, default)]
    if wrong:
        raise SearchSpaceError([("choices", f"{wrong[0]!r} does not match the type of the default {default!r}")])
    return parameter


def _range(value: Mapping, default: object) -> Parameter:
    low, high, log, step = value["low"], value["high"], value.get("log", False), value.get("step")
    if default is not NO_DEFAULT and default is not None and not is_number(default):
        raise SearchSpaceError([("", f"a range needs a numeric parameter; its default is {default!r}")])
    integer = (
        all(isinstance(bound, int) and not isinstance(bound, bool) for bound in (low, high))
        and (step is None or isinstance(step, int))
        and not isinstance(default, float)
    )
    try:
        if integer:
            return IntRange(low, high, log, 1 if step is None else step)
        return FloatRange(low, high, log, step)
    except ConfigError as error:
        raise SearchSpaceError([("", str(error))]) from None
