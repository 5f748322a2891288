"""Dependency pins accept the tested minor series with newer patch releases, and keep the next minor out."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

tomllib = pytest.importorskip("tomllib", reason="reading pyproject.toml needs Python 3.11+")

PYPROJECT = Path(__file__).parent.parent / "pyproject.toml"
# the series CI tested (README, "Versions tested"), a later patch of it, and the next minor release
SERIES = {"torch": ("2.14.1", "2.14.9", "2.15.0"), "torchvision": ("0.29.1", "0.29.7", "0.30.0")}


def requirements() -> dict[str, Requirement]:
    dependencies = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    return {requirement.name: requirement for requirement in map(Requirement, dependencies)}


@pytest.mark.parametrize("name", sorted(SERIES))
def test_tested_series_and_its_patches_are_accepted(name):
    tested, later_patch, next_minor = SERIES[name]
    specifier = requirements()[name].specifier
    assert specifier.contains(tested) and specifier.contains(later_patch)
    assert not specifier.contains(next_minor)


@pytest.mark.parametrize("name", sorted(SERIES))
def test_installed_version_satisfies_the_pins(name):
    installed = Version(metadata.version(name)).base_version  # "2.14.1+cu130" -> "2.14.1"
    assert requirements()[name].specifier.contains(installed)
