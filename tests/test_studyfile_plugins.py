"""A study file's `imports:` and the entry-point groups: loaded before anything is decoded, errors as messages."""

from __future__ import annotations

import importlib.metadata
import sys
import textwrap

import pytest

from actsearch.activations import registry
from actsearch.errors import ConfigError
from actsearch.study import StudyFileError, load_study_file, validate_command
from actsearch.study.plugins import ImportEntry, load_entry_points, load_plugins, resolve_imports

FAMILY = '''
import torch
from torch import nn
from actsearch.activations import register_activation


@register_activation("{name}")
class Custom(nn.Module):
    def __init__(self, scale: float = 1.0):
        super().__init__()
        self.scale = scale

    def forward(self, x):
        return self.scale * torch.relu(x) ** 2
'''


@pytest.fixture(autouse=True)
def clean_registry(monkeypatch):
    monkeypatch.setattr(registry, "_FAMILIES", dict(registry._FAMILIES))
    monkeypatch.setattr(registry, "_ALIASES", dict(registry._ALIASES))
    modules = set(sys.modules)
    yield
    for name in set(sys.modules) - modules:
        if name.startswith("plugin_"):
            del sys.modules[name]


def write_study(folder, imports, family):
    (folder / "study.yaml").write_text(textwrap.dedent(f"""\
        name: plugins
        imports: {imports}
        task: {{dataset: digits, network: smallcnn, epochs: 1}}
        space: {{families: {{{family}: {{scale: {{low: 0.5, high: 2.0}}}}}}}}
        """))
    return folder / "study.yaml"


def test_family_in_a_file_next_to_the_study_is_searchable(tmp_path):
    (tmp_path / "plugin_families.py").write_text(FAMILY.format(name="plugin_square"))
    study = load_study_file(write_study(tmp_path, "[plugin_families.py]", "plugin_square"))
    assert study.imports == (ImportEntry("plugin_families", str(tmp_path / "plugin_families.py")),)
    assert "act.plugin_square.scale" in study.space.parameters()
    code, text = validate_command(tmp_path / "study.yaml")
    assert code == 0, text


def test_without_imports_the_family_is_unknown(tmp_path):
    code, text = validate_command(write_study(tmp_path, "[]", "plugin_cube"))
    assert code == 2 and "unknown activation family 'plugin_cube'" in text


def test_a_missing_file_and_a_failing_module_are_reported_by_key(tmp_path):
    with pytest.raises(StudyFileError) as info:
        load_study_file(write_study(tmp_path, "[nowhere.py]", "relu"))
    missing = tmp_path / "nowhere.py"
    assert f"imports[0]: no file {missing} (a .py path is relative to the study file)" in str(info.value)
    (tmp_path / "plugin_broken.py").write_text("raise RuntimeError('boom')\n")
    with pytest.raises(StudyFileError, match=r"imports\[1\]: importing .*plugin_broken.py failed: RuntimeError: boom"):
        load_study_file(write_study(tmp_path, "[json, plugin_broken.py]", "relu"))
    with pytest.raises(StudyFileError, match=r"imports\[0\]: 'not a module!' is neither a module name"):
        load_study_file(write_study(tmp_path, "['not a module!']", "relu"))


def test_module_names_are_imported_as_installed(tmp_path, monkeypatch):
    (tmp_path / "plugin_installed.py").write_text(FAMILY.format(name="plugin_installed_family"))
    monkeypatch.syspath_prepend(str(tmp_path))
    load_plugins(resolve_imports(["plugin_installed"], tmp_path / "elsewhere"))
    assert "plugin_installed_family" in registry.list_activations()


def test_a_worker_without_the_file_imports_it_by_module_name(tmp_path, monkeypatch):
    """On a cluster node the path does not exist; Ray's py_modules put the module on sys.path instead."""
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    (shipped / "plugin_shipped.py").write_text(FAMILY.format(name="plugin_shipped_family"))
    monkeypatch.syspath_prepend(str(shipped))
    load_plugins([ImportEntry("plugin_shipped", "/on/the/driver/only/plugin_shipped.py")])
    assert "plugin_shipped_family" in registry.list_activations()


def test_entry_points_of_installed_packages_are_loaded(tmp_path, monkeypatch):
    (tmp_path / "plugin_entry.py").write_text(FAMILY.format(name="plugin_entry_family"))
    monkeypatch.syspath_prepend(str(tmp_path))
    points = {"actsearch.activations": [importlib.metadata.EntryPoint("mine", "plugin_entry", "actsearch.activations")],
              "actsearch.networks": [importlib.metadata.EntryPoint("bad", "plugin_missing_xyz", "actsearch.networks")]}
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: points.get(group, []))
    with pytest.raises(ConfigError, match="entry point 'bad' \\(plugin_missing_xyz\\) of group actsearch.networks"):
        load_entry_points()
    assert "plugin_entry_family" in registry.list_activations()
