"""Exceptions and the one message format shared by every layer of actsearch.

Anything the user can fix (a bad study file, an unknown family, a missing dataset) raises a
:class:`ConfigError`; the command line prints its message and exits with status 2, without a traceback.
Every message about a value reads ``<key.path>: <problem>``, and an unknown name lists what is allowed
with the closest match (:func:`unknown_name`).

Example:
    >>> unknown_name("dataset", "cifar11", ["cifar10", "cifar100", "digits"])
    "unknown dataset 'cifar11'; allowed: cifar10, cifar100, digits; did you mean 'cifar10'?"
    >>> join_path("baselines", 2), join_path("task", "epochs")
    ('baselines[2]', 'task.epochs')
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

__all__ = [
    "ActsearchError",
    "ConfigError",
    "ProblemsError",
    "is_number",
    "join_path",
    "pydantic_problems",
    "raise_config_error",
    "unknown_name",
]


class ActsearchError(Exception):
    """Base class of every error actsearch raises on purpose."""


class ConfigError(ActsearchError, ValueError):
    """Bad input: the message names what is wrong and what is allowed."""


class ProblemsError(ConfigError):
    """Several problems found in one check, each as ``(key_path, message)`` relative to ``prefix``.

    The message has one ``<prefix.key_path>: <message>`` line per problem. Nested inside a larger document
    (a task inside a study file), :func:`pydantic_problems` re-roots the problems at the document's path.
    """

    def __init__(self, problems: list[tuple[str, str]], prefix: str = ""):
        self.problems = list(problems)
        self.prefix = prefix
        lines = []
        for path, message in self.problems:
            where = join_path(prefix, path) if path else prefix
            lines.append(f"{where}: {message}" if where else message)
        super().__init__("\n".join(lines))


def unknown_name(kind: str, name: object, allowed: Iterable[str]) -> str:
    """Message for a name that is not one of ``allowed``, with the closest match when there is one: the first
    allowed name it begins (``'jpeg'`` -> ``'jpeg_compression'``), else the most similar one."""
    allowed = [str(item) for item in allowed]
    message = f"unknown {kind} {name!r}; allowed: {', '.join(allowed) or '(none)'}"
    typed = str(name).strip().lower()
    close = [item for item in allowed if typed and item.startswith(typed)] or difflib.get_close_matches(
        typed, allowed, n=1)
    return f"{message}; did you mean {close[0]!r}?" if close else message


def join_path(prefix: str, key: str | int) -> str:
    """Key path of ``key`` inside ``prefix``: ``join_path("baselines", 2) == "baselines[2]"``."""
    if isinstance(key, int):
        return f"{prefix}[{key}]"
    return f"{prefix}.{key}" if prefix else str(key)


def is_number(value: object) -> bool:
    """An int or float that is not a bool (YAML's ``true`` must not pass as 1)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def pydantic_problems(error: Any, allowed_keys=None, prefix: str = "") -> list[tuple[str, str]]:
    """``(key_path, message)`` pairs from a pydantic ``ValidationError``, in actsearch's wording.

    ``allowed_keys(loc)`` lists the keys valid at a location, for the message about an unknown key.
    """
    problems = []
    for item in error.errors(include_url=False):
        loc = tuple(item["loc"])
        path = prefix
        for key in loc:
            path = join_path(path, key)
        kind, value = item["type"], item.get("input")
        nested = item.get("ctx", {}).get("error")
        if isinstance(nested, ProblemsError):
            problems += [(join_path(path, sub) if sub else path, message) for sub, message in nested.problems]
            continue
        if kind == "extra_forbidden":
            message = unknown_name("key", loc[-1], allowed_keys(loc[:-1]) if allowed_keys else [])
        elif kind == "missing":
            message = "required key is missing"
        elif kind in ("value_error", "assertion_error"):
            message = item["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        elif kind in ("model_type", "model_attributes_type", "dict_type"):
            message = f"must be a mapping; got {value!r}"
        else:
            message = f"{item['msg'][0].lower()}{item['msg'][1:]}; got {value!r}"
        problems.append((path, message))
    return problems


def raise_config_error(error: Any, allowed_keys=None, prefix: str = "") -> None:
    """Raise a pydantic ``ValidationError`` again as one :class:`ProblemsError`, a line per problem."""
    raise ProblemsError(pydantic_problems(error, allowed_keys), prefix) from None
