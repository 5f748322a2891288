"""The package's shape, enforced: the import layers, what a cheap command imports, the one YAML dialect."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from actsearch.cli import _parse_assignments
from actsearch.errors import ConfigError
from actsearch.trainers import resolve_hparams
from actsearch.yamlio import load_yaml, parse_value

ROOT = Path(__file__).resolve().parent.parent


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_import_layers_hold():
    """The contracts in pyproject.toml: no import runs back up the layers, and only the search imports Ray."""
    done = _python("import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports())")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 kept, 0 broken" in done.stdout


def test_import_actsearch_loads_neither_torch_nor_ray():
    done = _python(
        "import sys, actsearch\n"
        "assert 'torch' not in sys.modules and 'ray' not in sys.modules, 'heavy import'\n"
        "assert {'load_config', 'create_activation', 'apply_activations'} <= set(dir(actsearch))\n"
        "assert {'load_config', 'create_activation'} <= set(actsearch.__all__)\n"
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["validate", "--help"]])
def test_help_and_version_import_neither_torch_nor_ray(argv):
    done = _python(
        "import sys\nfrom actsearch.cli import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules and 'ray' not in sys.modules, sorted(m for m in sys.modules if m in ('torch', 'ray'))\n"
    )
    assert done.returncode == 0, done.stderr


def test_validate_does_not_import_ray():
    done = _python(
        "import sys\nfrom actsearch.cli import main\n"
        "code = main(['validate', 'studies/quickstart.yaml'])\n"
        "assert code == 0, code\nassert 'ray' not in sys.modules\n"
    )
    assert done.returncode == 0, done.stderr
    assert "OK: studies/quickstart.yaml" in done.stdout


def test_load_config_does_not_import_ray(tmp_path):
    exported = tmp_path / "best.yaml"
    exported.write_text("plan:\n  default: {family: layeract, params: {alpha: 1e-5}}\ntrain: {lr: 1e-2}\n")
    done = _python(
        f"import sys, actsearch\nconfig = actsearch.load_config({str(exported)!r})\n"
        "assert config.plan.default.params['alpha'] == 1e-5, config.plan\n"
        "assert config.train['lr'] == 0.01\n"
        "assert 'ray' not in sys.modules\n"
    )
    assert done.returncode == 0, done.stderr


def test_one_yaml_dialect_reads_exponents_as_numbers():
    assert load_yaml("alpha: 1e-5\nlr: 3E2\nname: 1e5x") == {"alpha": 1e-5, "lr": 300.0, "name": "1e5x"}
    assert parse_value("1e-5") == 1e-5 and parse_value("[0.5, 0.75]") == [0.5, 0.75] and parse_value("sgd") == "sgd"
    with pytest.raises(ConfigError, match="duplicate key 'a'"):
        load_yaml("a: 1\na: 2", "x.yaml")


def test_set_reads_an_exponent_as_a_number():
    values = _parse_assignments(["lr=1e-5", "milestones=[0.3, 0.6]", "optimizer=adamw"])
    assert values == {"lr": 1e-5, "milestones": [0.3, 0.6], "optimizer": "adamw"}
    assert resolve_hparams(values)["lr"] == 1e-5


def test_exported_json_and_yaml_agree(tmp_path):
    import actsearch

    plan = {"default": {"family": "layeract", "params": {"alpha": 1e-5}}, "rules": []}
    (tmp_path / "best.json").write_text(json.dumps({"plan": plan}))
    (tmp_path / "best.yaml").write_text("plan:\n  default: {family: layeract, params: {alpha: 1e-5}}\n")
    assert actsearch.load_config(tmp_path / "best.json").plan == actsearch.load_config(tmp_path / "best.yaml").plan
