"""``train_command``: trains with the test set scored and prints a table or JSON."""

from __future__ import annotations

import io
import json
import re

import pytest
import torch
import torch.nn as nn

from actsearch.activations import ActivationSpec, PlacementPlan, PlacementRule
from actsearch.cli import EXIT_FAILED, main
from actsearch.trainers import DivergenceError, Task, train_command
from actsearch.trainers.networks import NETWORKS, register_network

TASK = Task(dataset="digits", network="smallcnn", epochs=2, device="cpu")


def test_json_output_holds_task_plan_hyperparameters_and_result():
    stream, progress = io.StringIO(), io.StringIO()
    report = train_command(TASK, "relu", {"lr": 0.05}, as_json=True, stream=stream, progress=progress)
    printed = json.loads(stream.getvalue())
    assert printed == json.loads(json.dumps(report))
    assert printed["task"]["network"] == "smallcnn" and printed["train"]["lr"] == 0.05
    assert printed["plan"]["default"]["family"] == "relu"
    assert 0 < printed["result"]["test_accuracy"] <= 1 and printed["result"]["epochs_completed"] == 2
    assert progress.getvalue().count("epoch ") == 2 and "val_accuracy" in progress.getvalue()


def test_text_output_lists_accuracies_and_the_activation_per_stage():
    plan = PlacementPlan(default=ActivationSpec.parse("relu"),
                         rules=(PlacementRule("stage3", ActivationSpec.parse("silu")),))
    stream = io.StringIO()
    report = train_command(TASK, plan, stream=stream, progress=io.StringIO())
    text = stream.getvalue()
    assert "validation accuracy" in text and "test accuracy" in text and "parameters" in text
    assert "stage3: silu" in text and "elsewhere: relu" in text
    assert f"{100 * report['result']['test_accuracy']:.2f}%" in text


def test_corrupted_accuracy_is_printed_per_category_and_severity(monkeypatch):
    calls = {}

    def fake_corrupted_evaluation(model, images, labels, **kwargs):
        calls.update(kwargs, count=len(images), model_training=model.training)
        return {"mean": 0.5, "per_category": {"noise": 0.4, "blur": 0.6}, "per_severity": {"1": 0.7, "5": 0.3},
                "per_corruption": {}}

    monkeypatch.setattr("actsearch.trainers.loop.evaluate_corrupted", fake_corrupted_evaluation)
    task = Task(dataset="digits", network="smallcnn", epochs=1, device="cpu", corruptions=["gaussian_noise"],
                severities=[1, 5], corruption_images=100)
    stream = io.StringIO()
    report = train_command(task, "relu", stream=stream, progress=io.StringIO())
    assert report["result"]["corrupted_accuracy"] == 0.5
    assert calls["count"] == 100 and calls["corruptions"] == ["gaussian_noise"] and calls["severities"] == (1, 5)
    text = stream.getvalue()
    assert re.search(r"corrupted accuracy \(test\)\s+50\.00%", text)
    assert "noise" in text and "severity 5" in text and "30.00%" in text


class _Constant(nn.Module):
    """The same class for every image: accuracy stays at chance."""

    def __init__(self, classes):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(classes))

    def forward(self, x):
        return self.bias.expand(len(x), -1) + 0 * x.flatten(1)[:, :1]


def test_json_failure_prints_the_error_and_the_epochs_before_it_then_raises():
    register_network("constant_cli", stages=("net",))(lambda classes, channels, width: _Constant(classes))
    try:
        stream = io.StringIO()
        with pytest.raises(DivergenceError, match="at chance"):
            train_command(TASK.replace(network="constant_cli", epochs=3), "relu", {"chance_patience_epochs": 2},
                          as_json=True, stream=stream, progress=io.StringIO())
        printed = json.loads(stream.getvalue())
        assert printed["error"]["type"] == "DivergenceError" and "at chance" in printed["error"]["message"]
        assert [entry["epoch"] for entry in printed["history"]] == [1, 2]
        assert printed["task"]["network"] == "constant_cli"
    finally:
        del NETWORKS["constant_cli"]


def test_cli_train_json_failure_prints_json_and_exits_non_zero(capsys):
    code = main(["train", "--activation", "relu", "--dataset", "digits", "--network", "smallcnn", "--epochs", "2",
                 "--set", "lr=1e10", "--json"])
    captured = capsys.readouterr()
    printed = json.loads(captured.out)
    assert code == EXIT_FAILED
    assert printed["error"] == {"type": "DivergenceError", "message": "loss became nan at epoch 1"}
    assert printed["history"] == [] and "diverged" not in captured.out
    assert "loss became nan at epoch 1" in captured.err
