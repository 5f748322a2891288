"""Study files that load: the ready studies, defaults, samplers, pruners, durations and the YAML dialect."""

from __future__ import annotations

import json
import importlib.util
from pathlib import Path

import optuna
import pytest

from actsearch.study import (
    OBJECTIVES,
    SamplerConfig,
    StudyFileError,
    load_study_file,
    parse_duration,
    validate_command,
)
from actsearch.trainers import Task

STUDIES = sorted((Path(__file__).parent.parent / "studies").glob("*.yaml"))

MINIMAL = """
name: minimal
space:
  families: [relu, silu]
"""


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "study.yaml"
    path.write_text(text)
    return path


def test_the_ready_studies_are_there():
    names = {path.name for path in STUDIES}
    assert {"quickstart.yaml", "cifar10-resnet20.yaml", "cifar10-robust.yaml", "cifar100-resnet20.yaml",
            "cifar10-per-stage.yaml"} <= names


@pytest.mark.parametrize("path", STUDIES, ids=[path.stem for path in STUDIES])
def test_every_ready_study_validates(path):
    code, text = validate_command(path)
    assert code == 0, text
    study = load_study_file(path)
    assert study.name == path.stem
    study.sampler_config.build(seed=0)
    study.pruner_config.build()
    assert isinstance(study.task, Task)
    assert {baseline.name for baseline in study.baselines} >= {"relu", "silu", "la_silu"}
    for baseline in study.baselines:
        assert study.space.baseline_params(baseline)


def test_quickstart_runs_offline_on_the_cpu():
    study = load_study_file(Path(__file__).parent.parent / "studies" / "quickstart.yaml")
    task = study.task
    assert (task.dataset, task.device, task.download) == ("digits", "cpu", False)
    assert study.execution.gpus_per_trial == 0


def test_robust_study_is_two_objective_nsga2():
    study = load_study_file(Path(__file__).parent.parent / "studies" / "cifar10-robust.yaml")
    assert [o.name for o in study.objectives] == ["val_accuracy", "corrupted_accuracy"]
    assert study.directions == ["maximize", "maximize"]
    assert isinstance(study.sampler_config.build(seed=1), optuna.samplers.NSGAIISampler)
    assert isinstance(study.pruner_config.build(), optuna.pruners.NopPruner)


def test_per_stage_study_has_a_slot_per_stage():
    study = load_study_file(Path(__file__).parent.parent / "studies" / "cifar10-per-stage.yaml")
    assert [slot.name for slot in study.space.placement.slots] == ["stem", "stage1", "stage2", "stage3"]
    assert "stage2.layeract.alpha" in study.space.parameters()


def test_defaults_of_a_minimal_study(tmp_path):
    study = load_study_file(write(tmp_path, MINIMAL))
    assert study.objectives[0].name == "val_accuracy" and study.directions == ["maximize"]
    assert study.sampler_config.name == "tpe" and study.pruner_config.name == "median"
    assert (study.budget.trials, study.budget.timeout_s, study.budget.max_retries) == (20, None, 2)
    assert study.execution.workers is None and study.execution.cpus_per_trial == 1.0
    assert study.execution.gpus_per_trial == "auto"  # decided from the Ray cluster once it is up
    assert study.storage is None and study.seed == 0 and study.baselines == []
    assert study.task == Task(seed=0)


def test_task_section_is_the_trainer_task(tmp_path):
    """One definition: every field of Task is a key of the study file's task section, with its checks."""
    task = Task(dataset="synthetic", network="smallcnn", epochs=2, seed=5)
    text = MINIMAL + "task: " + json.dumps(task.to_dict()) + "\n"
    assert load_study_file(write(tmp_path, text)).task == task
    with pytest.raises(StudyFileError, match=r"task\.epochs: input should be greater than or equal to 1; got 0"):
        load_study_file(write(tmp_path, MINIMAL + "task: {epochs: 0}\n"))


def test_task_seed_follows_the_study_seed_unless_given(tmp_path):
    assert load_study_file(write(tmp_path, MINIMAL + "seed: 7\n")).task.seed == 7
    text = MINIMAL + "seed: 7\ntask: {seed: 3}\n"
    assert load_study_file(write(tmp_path, text)).task.seed == 3


def test_several_objectives_default_to_nsga2_without_pruning(tmp_path):
    study = load_study_file(write(tmp_path, MINIMAL + "objectives: [val_accuracy, {name: parameters}]\n"))
    assert study.directions == ["maximize", "minimize"]
    assert study.sampler_config.name == "nsgaii" and study.pruner_config.name == "none"


def test_default_directions_and_shorthands(tmp_path):
    text = MINIMAL + "objectives: [{name: throughput}, {name: latency, direction: min}]\npruner: none\n"
    assert load_study_file(write(tmp_path, text)).directions == ["maximize", "minimize"]
    assert set(OBJECTIVES) == {"val_accuracy", "corrupted_accuracy", "parameters", "throughput", "latency"}


def test_tpe_is_configured_for_a_conditional_space():
    sampler = SamplerConfig().build(seed=3)
    assert isinstance(sampler, optuna.samplers.TPESampler)
    assert sampler._multivariate and sampler._group and sampler._constant_liar
    assert not SamplerConfig(options={"group": False}).build()._group


@pytest.mark.parametrize("name,cls", [
    ("random", optuna.samplers.RandomSampler), ("gp", optuna.samplers.GPSampler),
    ("nsgaii", optuna.samplers.NSGAIISampler),
])
def test_other_samplers_build(name, cls):
    assert isinstance(SamplerConfig(name=name).build(seed=0), cls)


@pytest.mark.parametrize("text,cls", [
    ("median", optuna.pruners.MedianPruner),
    ("{name: successive_halving, options: {reduction_factor: 3}}", optuna.pruners.SuccessiveHalvingPruner),
    ("{name: hyperband, options: {min_resource: 1, max_resource: 10}}", optuna.pruners.HyperbandPruner),
    ("none", optuna.pruners.NopPruner),
])
def test_pruners_build(tmp_path, text, cls):
    study = load_study_file(write(tmp_path, MINIMAL + f"pruner: {text}\n"))
    assert isinstance(study.pruner_config.build(), cls)


def test_cmaes_takes_an_all_numeric_space(tmp_path):
    text = "name: numeric\nsampler: cmaes\nspace:\n  families: {leaky_relu: {negative_slope: {low: 0.01, high: 0.3}}}\n"
    if importlib.util.find_spec("cmaes") is None:
        with pytest.raises(StudyFileError, match="sampler.name: sampler cmaes needs the 'cmaes' package"):
            load_study_file(write(tmp_path, text))
    else:
        study = load_study_file(write(tmp_path, text))
        assert not study.space.has_categorical
        assert isinstance(study.sampler_config.build(seed=0), optuna.samplers.CmaEsSampler)


@pytest.mark.parametrize("value,seconds", [
    (90, 90.0), (2.5, 2.5), ("2h", 7200.0), ("30m", 1800.0), ("1h30m", 5400.0), ("45s", 45.0), ("1d", 86400.0),
    ("10min", 600.0), (None, None),
])
def test_durations(value, seconds):
    assert parse_duration(value) == seconds


@pytest.mark.parametrize("storage", [
    "sqlite:///runs/study.db", "postgresql://user:secret@host/db", "mysql+pymysql://u@h/db", "runs/x/journal.log",
    "/tmp/study.journal", None,
])
def test_storage_forms(tmp_path, storage):
    text = MINIMAL + (f"storage: {storage}\n" if storage else "")
    assert load_study_file(write(tmp_path, text)).storage == storage


def test_yaml_reads_exponents_without_a_dot_as_floats(tmp_path):
    text = "name: floats\nspace:\n  families: {layeract: {alpha: {low: 1e-6, high: 1E-1, log: true}}}\n"
    alpha = load_study_file(write(tmp_path, text)).space.families.families["layeract"]["alpha"]
    assert (alpha.low, alpha.high) == (1e-6, 0.1)


def test_validate_command_says_ok_and_summarises(tmp_path):
    path = write(tmp_path, MINIMAL + "baselines: [relu]\n")
    code, text = validate_command(path)
    assert code == 0
    assert text.startswith(f"OK: {path}\nstudy 'minimal': digits / resnet20, 20 trials x 10 epochs")
    assert "act.family: one of [relu, silu]" in text and "baselines: relu" in text


def test_the_example_in_the_studies_readme_validates(tmp_path):
    readme = (Path(__file__).parent.parent / "studies" / "README.md").read_text()
    example = readme.split("```yaml\n", 1)[1].split("```", 1)[0]
    study = load_study_file(write(tmp_path, example))
    assert study.name == "my-study" and [b.name for b in study.baselines] == ["layeract"]


def test_validate_refuses_a_placement_pattern_that_matches_no_module(tmp_path):
    placement = "\n  placement: {patterns: ['nothing_here.*', stage2]}"
    text = MINIMAL.replace("families: [relu, silu]", "families: [relu, silu]" + placement)
    path = write(tmp_path, text + "task: {network: smallcnn}\n")
    code, text = validate_command(path)
    assert code == 2
    assert text == (
        f"{path}: space.placement: pattern 'nothing_here.*' matches no activation module of network 'smallcnn', so "
        "it changes nothing; allowed: a module name, a prefix or a glob of the network's activation modules "
        "(stem.act, stage1.0.act, stage2.0.act, stage3.0.act)\n1 error; nothing was run or written"
    )


def test_a_huge_trial_count_is_read_and_validates_with_a_warning(tmp_path):
    path = write(tmp_path, MINIMAL + "budget: {trials: 1e12}\ntask: {network: smallcnn}\n")
    assert load_study_file(path).budget.trials == 10**12
    code, text = validate_command(path)
    assert code == 0
    assert text.splitlines()[-1] == ("warning: budget.trials = 1,000,000,000,000 will not finish in any lifetime; the "
                                     "run goes on until stopped (Ctrl-C, budget.timeout); did you mean fewer?")
