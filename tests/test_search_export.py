"""export_best / load_config round trips, pick rules, applying an export to torchvision ResNet-18, errors."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import optuna
import pytest
import torch
import torchvision
import yaml

from actsearch.activations import PlacementPlan, apply_activations
from actsearch.errors import ConfigError
from actsearch.study import ExportedConfig, export_best, load_config
from actsearch.study.export import EXPORT_FORMAT
from search_fixtures import ask_with_config, load_yaml_study, prepare

optuna.logging.set_verbosity(optuna.logging.WARNING)


def make_study(folder: Path, name: str, objectives: str, values: list[tuple[float, ...]], *, baseline=False):
    """A study whose trials are told ``values`` with the attributes the driver writes."""
    baselines = "[{family: layeract, alpha: 1.0e-5, train: {lr: 0.05}}]" if baseline else "[]"
    study_file = load_yaml_study(
        folder,
        name,
        f"""\
        task: {{dataset: digits, network: smallcnn, epochs: 2, seed: 7}}
        space:
          families: {{relu: {{}}, layeract: {{alpha: {{low: 1.0e-6, high: 0.1, log: true}}}}, silu: {{}}}}
          train: {{lr: {{low: 0.01, high: 0.3, log: true}}}}
        objectives: {objectives}
        pruner: none
        sampler: {{name: random}}
        baselines: {baselines}
        """,
    )
    study, _ = prepare(study_file, folder)
    for trial_values in values:
        trial = ask_with_config(study, study_file)
        trial.set_user_attr("result", {"val_accuracy": trial_values[0], "n_parameters": 123, "history": [{}]})
        study.tell(trial, list(trial_values))
    return study_file, study


def test_export_load_apply_to_resnet18_and_train_one_step(tmp_path):
    study_file, study = make_study(tmp_path, "single", "[val_accuracy]", [(0.9,), (0.5,), (0.7,)], baseline=True)
    exported_path = export_best(study_file, tmp_path / "out" / "best.json", runs_dir=tmp_path)
    content = json.loads(exported_path.read_text())
    assert content["format"] == EXPORT_FORMAT
    assert content["objectives"] == {"val_accuracy": 0.9}
    assert content["provenance"]["trial"] == 0 and content["provenance"]["baseline"] == "layeract"
    assert content["provenance"]["dataset"] == "digits" and content["provenance"]["network"] == "smallcnn"
    assert content["provenance"]["seed"] == 7
    assert set(content["provenance"]["versions"]) >= {"actsearch", "torch", "optuna", "ray"}
    assert content["metrics"] == {"val_accuracy": 0.9, "n_parameters": 123}
    assert not list(exported_path.parent.glob(".*tmp"))

    config = load_config(exported_path)
    assert config.to_dict() == content
    assert config.plan == PlacementPlan.from_dict(study.trials[0].user_attrs["config"]["plan"])
    assert config.plan.families() == ["layeract"]
    assert config.train == {"lr": 0.05}
    assert config.to_task().seed == 7

    model = torchvision.models.resnet18(num_classes=10)
    assert apply_activations(model, config.plan) > 0
    optimizer = torch.optim.SGD(model.parameters(), lr=config.train["lr"], momentum=0.9)
    before = model.fc.weight.detach().clone()
    images, labels = torch.randn(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])
    loss = torch.nn.functional.cross_entropy(model(images), labels)
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss) and not torch.equal(before, model.fc.weight)


def test_yaml_export_round_trips(tmp_path):
    study_file, _ = make_study(tmp_path, "yaml", "[val_accuracy]", [(0.4,), (0.6,)])
    path = export_best(study_file, tmp_path / "best.yaml", runs_dir=tmp_path)
    content = yaml.safe_load(path.read_text())
    assert content["provenance"]["trial"] == 1
    assert load_config(path) == ExportedConfig.from_dict(content)


PARETO_VALUES = [(0.9, 1000.0), (0.8, 100.0), (0.85, 500.0), (0.7, 2000.0)]


@pytest.mark.parametrize(
    ("pick", "trial"),
    [(None, 2), ("knee", 2), ("best:val_accuracy", 0), ("best:parameters", 1), ("0", 0), ("1", 2), ("-1", 1),
     ("trial:3", 3)],
)
def test_pick_rules_choose_from_the_pareto_set(tmp_path, pick, trial):
    study_file, _ = make_study(tmp_path, "multi", "[val_accuracy, parameters]", PARETO_VALUES)
    config = load_config(export_best(study_file, tmp_path / "best.json", pick=pick, runs_dir=tmp_path))
    assert config.provenance["trial"] == trial
    assert config.objectives == dict(zip(["val_accuracy", "parameters"], PARETO_VALUES[trial]))
    assert [entry["trial"] for entry in config.pareto] == [0, 2, 1]


@pytest.mark.parametrize(
    ("pick", "message"),
    [("best:loss", "unknown objective 'loss'"), ("median", "not a valid rule.*allowed: 'knee'"),
     ("7", "index out of range; there are 3 candidates"), ("trial:9", "trial 9 is not a complete trial")],
)
def test_bad_pick_rules_are_config_errors(tmp_path, pick, message):
    study_file, _ = make_study(tmp_path, "multi", "[val_accuracy, parameters]", PARETO_VALUES)
    with pytest.raises(ConfigError, match=message):
        export_best(study_file, tmp_path / "best.json", pick=pick, runs_dir=tmp_path)


def test_export_errors_name_the_problem(tmp_path):
    study_file, _ = make_study(tmp_path, "empty", "[val_accuracy]", [])
    with pytest.raises(ConfigError, match="no complete trial to export"):
        export_best(study_file, tmp_path / "best.json", runs_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"unknown file type '\.txt'; allowed: \.json, \.yaml, \.yml"):
        export_best(study_file, tmp_path / "best.txt", runs_dir=tmp_path)
    with pytest.raises(ConfigError, match="no study journal at .*never/journal.log"):
        export_best(dataclasses.replace(study_file, name="never"), tmp_path / "b.json", runs_dir=tmp_path)


def test_load_config_reads_bare_plans_and_specs(tmp_path):
    plan = PlacementPlan.parse({"default": {"family": "relu"}, "rules": [{"pattern": "layer4", "spec": "silu"}]})
    (tmp_path / "plan.json").write_text(json.dumps(plan.to_dict()))
    assert load_config(tmp_path / "plan.json").plan == plan
    (tmp_path / "spec.yaml").write_text("family: elu\nparams: {alpha: 0.5}\n")
    loaded = load_config(tmp_path / "spec.yaml")
    assert loaded.plan.families() == ["elu"] and loaded.train == {} and loaded.task == {}
    with pytest.raises(ConfigError, match="no task"):
        loaded.to_task()


def test_load_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="configuration file not found"):
        load_config(tmp_path / "missing.json")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ConfigError, match="broken.json: not valid JSON"):
        load_config(tmp_path / "broken.json")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="list.yaml: expected an exported configuration"):
        load_config(tmp_path / "list.yaml")
    (tmp_path / "family.yaml").write_text("family: reluu\n")
    with pytest.raises(ConfigError, match="family.yaml: .*reluu"):
        load_config(tmp_path / "family.yaml")
