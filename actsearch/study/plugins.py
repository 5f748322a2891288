"""Custom families and networks in a search: a study file's ``imports:`` and installed packages' entry points.

Registering a family (``@register_activation``) or a network (``@register_network``) happens when its module
is imported, so every process that decodes a trial must import it first: the driver, ``actsearch validate``
and every Ray worker. Two sources, loaded at each of those points by :func:`load_plugins`:

- the study file's ``imports:`` list: module names (installed, e.g. ``my_package.families``) or ``.py`` file
  paths relative to the study file (imported under the file's name, and shipped to cluster workers with Ray's
  ``runtime_env`` ``py_modules``);
- the entry-point groups ``actsearch.activations`` and ``actsearch.networks`` of installed packages
  (``[project.entry-points."actsearch.activations"] my_families = "my_package.families"``).

Example:
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "cube_families.py").write_text("VALUE = 3")
    >>> imports = resolve_imports(["cube_families.py", "json"], folder)
    >>> [entry.module for entry in imports]
    ['cube_families', 'json']
    >>> load_plugins(imports)
    >>> import sys; sys.modules["cube_families"].VALUE
    3
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from actsearch.errors import ConfigError

__all__ = ["ENTRY_POINT_GROUPS", "ImportEntry", "load_entry_points", "load_plugins", "resolve_imports"]

ENTRY_POINT_GROUPS = ("actsearch.activations", "actsearch.networks")
_MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


@dataclass(frozen=True)
class ImportEntry:
    """One module to import: its name, and for a local ``.py`` file its absolute path."""

    module: str
    file: str | None = None


def resolve_imports(entries: Sequence[object], base: Path) -> list[ImportEntry]:
    """The ``imports:`` list as :class:`ImportEntry` items; ``.py`` paths are relative to ``base`` (the study
    file's folder). Raises ConfigError (key ``imports[i]``) for an entry that is neither."""
    resolved = []
    for index, entry in enumerate(entries):
        where = f"imports[{index}]"
        if not isinstance(entry, str) or not entry.strip():
            raise ConfigError(f"{where}: a module name or a .py file path; got {entry!r}")
        if entry.endswith(".py"):
            path = (base / entry).resolve()
            if not path.is_file():
                raise ConfigError(f"{where}: no file {path} (a .py path is relative to the study file)")
            if not _MODULE_NAME.match(path.stem):
                raise ConfigError(f"{where}: {path.name} cannot be imported: its name must be a Python identifier")
            resolved.append(ImportEntry(path.stem, str(path)))
        elif _MODULE_NAME.match(entry):
            resolved.append(ImportEntry(entry))
        else:
            raise ConfigError(f"{where}: {entry!r} is neither a module name (my_package.families) nor a .py path")
    return resolved


def load_entry_points() -> None:
    """Import every installed package's ``actsearch.activations`` and ``actsearch.networks`` entry points."""
    for group in ENTRY_POINT_GROUPS:
        for entry_point in importlib.metadata.entry_points(group=group):
            try:
                entry_point.load()
            except Exception as error:
                package = entry_point.dist.name if entry_point.dist else "an installed package"
                raise ConfigError(
                    f"entry point {entry_point.name!r} ({entry_point.value}) of group {group} in {package} failed "
                    f"to load: {type(error).__name__}: {error}; fix or uninstall {package}"
                ) from None


def load_plugins(imports: Iterable[ImportEntry] = ()) -> None:
    """Load the entry points, then import each entry: a file from its path when this machine has it (the
    driver, a worker on the same machine), else by module name (a cluster worker, where Ray's ``py_modules``
    put the file on the path). Importing twice is a no-op."""
    load_entry_points()
    for index, entry in enumerate(imports):
        try:
            if entry.file is not None and Path(entry.file).is_file():
                _import_file(entry.module, Path(entry.file))
            else:
                importlib.import_module(entry.module)
        except ConfigError:
            raise
        except Exception as error:
            source = entry.file or entry.module
            raise ConfigError(f"imports[{index}]: importing {source} failed: {type(error).__name__}: {error}") from None


def _import_file(name: str, path: Path) -> None:
    loaded = sys.modules.get(name)
    if loaded is not None:
        if Path(getattr(loaded, "__file__", "") or "").resolve() != path:
            raise ConfigError(f"{path} would be imported as {name!r}, but a module of that name is already "
                              f"imported from {getattr(loaded, '__file__', 'elsewhere')}; rename the file")
        return
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
