"""Malformed study files: each gives its own message, naming the file, the key path and the problem."""

from __future__ import annotations

import pytest
import yaml

from actsearch.errors import ConfigError
from actsearch.study import StudyFileError, format_errors, load_study_file, validate_command

SPACE = {
    "families": {"relu": {}, "layeract": {"alpha": {"low": 1e-6, "high": 0.1, "log": True}}},
    "train": {"lr": {"low": 0.01, "high": 0.3, "log": True}},
}
TASK = {"dataset": "digits", "network": "smallcnn", "epochs": 1}


def study(**sections: object) -> str:
    """A valid study file's text with some top-level sections replaced (None removes one)."""
    data = {"name": "broken", "task": TASK, "space": SPACE} | sections
    return yaml.safe_dump({key: value for key, value in data.items() if value is not None}, sort_keys=False)


def errors_of(tmp_path, text: str) -> tuple[str, list[str]]:
    path = tmp_path / "study.yaml"
    path.write_text(text)
    with pytest.raises(StudyFileError) as caught:
        load_study_file(path)
    return str(path), caught.value.errors


CASES = [
    ("unknown top-level key", study(sampelr="tpe"),
     "sampelr: unknown key 'sampelr'; allowed: name, description, imports, task, space, objectives, sampler, pruner, "
     "budget, execution, tracking, storage, seed, baselines, confirm; did you mean 'sampler'?"),
    ("unknown task key", study(task=TASK | {"epoch": 3}), "task.epoch: unknown key 'epoch'; allowed: dataset,"),
    ("task key suggestion", study(task=TASK | {"epoch": 3}), "task.epoch: unknown key ...; did you mean 'epochs'?"),
    ("wrong type", study(task=TASK | {"epochs": "ten"}), "task.epochs: input should be a valid integer; got 'ten'"),
    ("epochs below one", study(task=TASK | {"epochs": 0}), "task.epochs: input should be greater than or equal to 1"),
    ("low >= high", study(space=SPACE | {"train": {"lr": {"low": 0.3, "high": 0.01}}}),
     "space.train.lr: low (0.3) must be below high (0.01)"),
    ("log range from zero", study(space={"families": {"leaky_relu": {"negative_slope": {"low": 0.0, "high": 0.3,
                                                                                         "log": True}}}}),
     "space.families.leaky_relu.negative_slope: a log range needs low > 0 (got low=0.0)"),
    ("unknown family", study(space={"families": {"relux": {}}}),
     "space.families.relux: unknown activation family 'relux'; allowed: "),
    ("unknown family parameter", study(space={"families": {"layeract": {"alpah": 0.1}}}),
     "space.families.layeract.alpah: unknown parameter of layeract 'alpah'; allowed: "),
    ("parameter of a family without any", study(space={"families": {"relu": {"inplace": True}}}),
     "space.families.relu.inplace: relu has no parameters; write `relu: {}`"),
    ("unknown dataset", study(task=TASK | {"dataset": "cifar11"}),
     "task.dataset: unknown dataset 'cifar11'; allowed: digits, synthetic, cifar10, cifar100"),
    ("unknown network", study(task=TASK | {"network": "resnet21"}),
     "task.network: unknown network 'resnet21'; allowed: "),
    ("unknown sampler", study(sampler="tpee"),
     "sampler: unknown sampler 'tpee'; allowed: tpe, random, gp, cmaes, nsgaii; did you mean 'tpe'?"),
    ("unknown pruner", study(pruner={"name": "medain"}),
     "pruner: unknown pruner 'medain'; allowed: median, successive_halving, hyperband, none; did you mean 'median'?"),
    ("unknown sampler option", study(sampler={"name": "tpe", "options": {"n_startup": 5}}),
     "sampler: unknown option of sampler tpe 'n_startup'; allowed: "),
    ("sampler seed option", study(sampler={"name": "random", "options": {"seed": 5}}),
     "sampler: set the seed with the study's top-level `seed`, not in sampler.options"),
    ("sampler option value rejected by the sampler", study(sampler={"name": "nsgaii", "options": {"population_size": 1}}),
     "sampler: `population_size` must be greater than or equal to 2."),
    ("pruner option value rejected by the pruner",
     study(pruner={"name": "successive_halving", "options": {"reduction_factor": 1}}),
     "pruner: The value of `reduction_factor` is 1, but must be `reduction_factor >= 2`"),
    ("pruner option of wrong type", study(pruner={"name": "median", "options": {"n_startup_trials": "five"}}),
     "pruner: option n_startup_trials must be int; got 'five'"),
    ("pruner with several objectives", study(objectives=["val_accuracy", "parameters"], pruner="median"),
     "pruner: pruner median cannot be used with several objectives"),
    ("cmaes with categorical", study(sampler="cmaes"),
     "sampler.name: cmaes cannot sample categorical parameters and this space has act.family"),
    ("cmaes with several objectives", study(sampler="cmaes", objectives=["val_accuracy", "latency"], pruner="none",
                                            space={"families": {"relu": {}}}),
     "sampler.name: cmaes optimizes a single objective"),
    ("unknown objective", study(objectives=["val_acc"]),
     "objectives[0].name: unknown objective 'val_acc'; allowed: val_accuracy, corrupted_accuracy, parameters, "
     "throughput, latency; did you mean 'val_accuracy'?"),
    ("wrong direction", study(objectives=[{"name": "latency", "direction": "down"}]),
     "objectives[0].direction: input should be 'maximize' or 'minimize'; got 'down'"),
    ("objective listed twice", study(objectives=["val_accuracy", "val_accuracy"], pruner="none"),
     "objectives[1].name: objective 'val_accuracy' is listed twice"),
    ("corrupted objective without corruptions", study(objectives=["val_accuracy", "corrupted_accuracy"]),
     "objectives[1]: corrupted_accuracy needs task.corruptions"),
    ("unknown corruption", study(task=TASK | {"corruptions": ["gaussian_nois"]}),
     "task.corruptions: unknown corruption 'gaussian_nois'"),
    ("baseline outside a range", study(baselines=[{"family": "la_silu", "alpha": 0.5}]),
     "baselines[0].alpha: 0.5 is outside the space: families.layeract.alpha is float [1e-06, 0.1, log]"),
    ("baseline family not in the space", study(baselines=[{"family": "gelu"}]),
     "baselines[0].family: family 'gelu' is not in the space; space.families has: relu, layeract"),
    ("baseline unknown family", study(baselines=[{"family": "gelx"}]),
     "baselines[0].family: unknown activation family 'gelx'"),
    ("baseline parameter left at a default outside the space",
     study(space={"families": {"leaky_relu": {"negative_slope": {"low": 0.1, "high": 0.3}}}},
           baselines=[{"family": "leaky_relu"}]),
     "baselines[0].negative_slope: 0.01 is outside the space: families.leaky_relu.negative_slope is float [0.1, 0.3]"),
    ("baseline training value outside", study(baselines=[{"family": "relu", "train": {"lr": 0.5}}]),
     "baselines[0].train.lr: 0.5 is outside the space: train.lr is float [0.01, 0.3, log]"),
    ("baseline training key not searched", study(baselines=[{"family": "relu", "train": {"momentum": 0.5}}]),
     "baselines[0].train.momentum: unknown training key of the space 'momentum'; allowed: lr"),
    ("baseline parameter the family lacks", study(baselines=[{"family": "layeract", "alpah": 1e-5}]),
     "baselines[0].alpah: unknown parameter of layeract 'alpah'; allowed: ...; did you mean 'alpha'?"),
    ("baseline without family", study(baselines=[{"name": "mine"}]),
     "baselines[0].family: required: the activation family of this baseline"),
    ("baseline names repeated", study(baselines=[{"family": "relu"}, {"family": "relu"}]),
     "baselines[1].name: baseline name 'relu' is already used by baselines[0]"),
    ("unknown training key", study(space=SPACE | {"train": {"learning_rate": 0.1}}),
     "space.train.learning_rate: unknown training hyperparameter 'learning_rate'; allowed: "),
    ("training value rejected by the trainer", study(space=SPACE | {"train": {"label_smoothing": 1.5}}),
     "space.train.label_smoothing: must be in [0, 1); got 1.5"),
    ("fixed value of the wrong type", study(space=SPACE | {"train": {"optimizer": 0.1}}),
     "space.train.optimizer: 0.1 does not match the type of the default 'sgd'"),
    ("range key typo", study(space=SPACE | {"train": {"lr": {"low": 0.01, "hihg": 0.3}}}),
     "space.train.lr.hihg: unknown key 'hihg'; allowed: low, high, log, step, choices; did you mean 'high'?"),
    ("range without high", study(space=SPACE | {"train": {"lr": {"low": 0.01}}}),
     "space.train.lr: a range needs both low and high"),
    ("empty choices", study(space={"families": {"layeract": {"gate": {"choices": []}}}}),
     "space.families.layeract.gate.choices: choices must not be empty"),
    ("unknown placement", study(space=SPACE | {"placement": "per-stage"}),
     "space.placement: unknown placement 'per-stage'; allowed: global, per_stage; did you mean 'per_stage'?"),
    ("unknown space key", study(space=SPACE | {"familes": {}}),
     "space.familes: unknown key 'familes'; allowed: families, placement, train; did you mean 'families'?"),
    ("space without families", study(space={"train": {"lr": 0.1}}),
     "space.families: required: the activation families to search"),
    ("missing name", study(name=None), "name: required key is missing"),
    ("unsafe name", study(name="my study/1"), "name: a study name is letters, digits"),
    ("bad timeout", study(budget={"trials": 5, "timeout": "2 hours"}),
     "budget.timeout: a duration is seconds or a text like '2h', '30m', '1h30m', '45s'; got '2 hours'"),
    ("bad storage", study(storage="runs.db"),
     "storage: 'runs.db' is neither an Optuna storage URL"),
    ("negative gpus", study(execution={"gpus_per_trial": -1}),
     "execution.gpus_per_trial: a number >= 0 (fractions share a GPU) or 'auto'; got -1"),
    ("section of the wrong type", study(budget=[5]), "budget: must be a mapping; got [5]"),
]


def matches(error: str, expected: str) -> bool:
    """``error`` starts with the first part of ``expected`` and holds the others ("..." separates parts) in order."""
    first, *others = expected.split("...")
    if not error.startswith(first):
        return False
    position = len(first)
    for part in others:
        position = error.find(part, position)
        if position < 0:
            return False
        position += len(part)
    return True


@pytest.mark.parametrize("text,expected", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_malformed_study_gives_its_message(tmp_path, text, expected):
    path, errors = errors_of(tmp_path, text)
    assert any(matches(error, f"{path}: {expected}") for error in errors), "\n".join(errors)


def test_every_error_is_reported_at_once(tmp_path):
    text = study(task=TASK | {"dataset": "cifar11", "epoch": 2}, sampler="tpee", objectives=["val_accuracy", "latency"],
                 pruner="median", space={"families": {"relux": {}}}, budget={"trials": 0})
    path, errors = errors_of(tmp_path, text)
    keys = sorted(error.split(": ")[1] for error in errors)
    assert keys == ["budget.trials", "pruner", "sampler", "space.families.relux", "task.dataset", "task.epoch"]


@pytest.mark.parametrize("text,line,problem", [
    ("name: x\nspace:\n  families: {relu: {}\n", 4, "invalid YAML"),
    ("name: x\nspace:\n  families:\n    relu: {}\n    relu: {}\n", 5, "invalid YAML: duplicate key 'relu'"),
    ("name: x\n\tspace: {}\n", 2, "invalid YAML"),
])
def test_unreadable_yaml_gives_the_line(tmp_path, text, line, problem):
    path, errors = errors_of(tmp_path, text)
    assert len(errors) == 1
    assert errors[0].startswith(f"{path}: line {line}, column ") and problem in errors[0], errors[0]


@pytest.mark.parametrize("text,expected", [
    ("", "the file is empty; a study needs at least `name` and `space`"),
    ("- name: x\n", "a study file is a mapping of keys (name, task, space, ...); got a list"),
])
def test_file_that_is_not_a_study(tmp_path, text, expected):
    path, errors = errors_of(tmp_path, text)
    assert errors == [f"{path}: {expected}"]


def test_missing_file(tmp_path):
    path = tmp_path / "nowhere.yaml"
    with pytest.raises(StudyFileError) as caught:
        load_study_file(path)
    assert caught.value.errors == [f"{path}: study file not found"]
    assert isinstance(caught.value, ConfigError)


def test_validate_command_prints_the_errors_and_exits_2(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text(study(sampler="tpee", pruner="medain"))
    code, text = validate_command(path)
    assert code == 2
    assert text.splitlines()[-1] == "2 errors; nothing was run or written"
    assert f"{path}: sampler: unknown sampler 'tpee'" in text


def test_format_errors_counts_one_error():
    text = format_errors(StudyFileError(["a.yaml: name: bad"]))
    assert text == "a.yaml: name: bad\n1 error; nothing was run or written"
