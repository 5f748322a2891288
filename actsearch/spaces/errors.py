"""Errors of a search space, collected with the key path of each problem.

A space is checked as a whole: every problem is recorded with its key path (``families.layeract.alpha``)
and reported together, so one run of ``actsearch validate`` shows everything to fix.

Example:
    >>> problems = Problems()
    >>> problems.add("families.relux", unknown_name("activation family", "relux", ["relu", "silu"]))
    >>> problems.messages()
    ["families.relux: unknown activation family 'relux'; allowed: relu, silu; did you mean 'relu'?"]
"""

from __future__ import annotations

from actsearch.errors import ProblemsError, join_path, unknown_name

__all__ = ["Problems", "SearchSpaceError", "join_path", "unknown_name"]


class SearchSpaceError(ProblemsError):
    """A search space (or a baseline checked against it) is invalid.

    ``problems`` lists ``(key_path, message)`` pairs; the key path is relative to the space section
    (or to the baseline) and empty for a problem of the whole section.
    """


class Problems:
    """Collects ``(key_path, message)`` pairs while a section is checked."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, path: str, message: str) -> None:
        self.items.append((path, message))

    def extend(self, prefix: str, error: SearchSpaceError) -> None:
        """Records the problems of a nested check under ``prefix``."""
        for path, message in error.problems:
            self.items.append((join_path(prefix, path) if path else prefix, message))

    def messages(self) -> list[str]:
        return [f"{path}: {message}" if path else message for path, message in self.items]

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise SearchSpaceError(self.items)
