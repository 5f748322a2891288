"""The study names its objectives, so optuna-dashboard and the optuna command do not show "Objective 0"."""

from __future__ import annotations

import optuna

from actsearch.study import open_storage
from search_fixtures import load_yaml_study, prepare

optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_objective_names_are_the_studys_metric_names(tmp_path):
    study_file = load_yaml_study(tmp_path, "named", """\
        task: {dataset: digits, network: smallcnn, epochs: 1}
        space: {families: [relu, silu]}
        objectives: [val_accuracy, {name: parameters}]
        """)
    study, _ = prepare(study_file, tmp_path)
    assert study.metric_names == ["val_accuracy", "parameters"]
    storage, _ = open_storage(None, "named", runs_dir=tmp_path, create=False)
    assert optuna.load_study(study_name="named", storage=storage).metric_names == ["val_accuracy", "parameters"]
    prepare(study_file, tmp_path)  # resuming keeps them
    assert optuna.load_study(study_name="named", storage=storage).metric_names == ["val_accuracy", "parameters"]
