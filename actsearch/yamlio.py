"""The one YAML reader for every file and value actsearch reads: study files, exported configurations,
activation specs and ``--set KEY=VALUE`` values.

PyYAML follows YAML 1.1, where ``1e-5`` (no dot) is a string; here it is a number, as in YAML 1.2 and JSON.
Duplicate keys are an error rather than the last one silently winning.

Example:
    >>> load_yaml("alpha: 1e-5\\nlr: .1")
    {'alpha': 1e-05, 'lr': 0.1}
    >>> parse_value("1e-5"), parse_value("[0.5, 0.75]"), parse_value("sgd")
    (1e-05, [0.5, 0.75], 'sgd')
"""

from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import Any

import yaml

from actsearch.errors import ConfigError

__all__ = ["load_yaml", "parse_value", "read_text"]


class _Loader(yaml.SafeLoader):
    """YAML 1.1 safe loader that reads ``1e-5`` as a float and rejects duplicate keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, typing.Hashable):
                continue
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping", node.start_mark, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def load_yaml(text: str, source: str = "") -> Any:
    """Parse YAML (JSON is YAML too). Raises :class:`ConfigError` naming ``source`` and the line."""
    prefix = f"{source}: " if source else ""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(f"{prefix}{where}invalid YAML: {error.problem or error.context}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{prefix}invalid YAML: {error}") from None


def parse_value(text: str) -> Any:
    """One value typed on a command line, read by the same rules as the files: ``1e-5`` is a number."""
    return load_yaml(text, f"value {text!r}")


def read_text(path: str | Path, what: str = "file") -> str:
    """A text file's content, or a :class:`ConfigError` saying why it cannot be read."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: {what} not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a {what}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read: {error}") from None
