"""Storage opening and its errors, the driver lock, torn journal tails and stale Optuna locks, worker slot sizing,
resource checks, objective values."""

from __future__ import annotations

import logging
import os
import socket

import optuna
import pytest

from actsearch.errors import ConfigError
from actsearch.search import plan_slots, run_study
from actsearch.study import (
    DriverLock,
    MissingObjectiveError,
    load_study_file,
    objective_values,
    open_storage,
    run_directory,
)
from actsearch.study.preflight import check_resources

optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_default_storage_is_a_journal_under_runs(tmp_path):
    storage, where = open_storage(None, "demo", runs_dir=tmp_path)
    study = optuna.create_study(storage=storage, study_name="demo")
    study.enqueue_trial({"x": 1.0})
    assert where == str(tmp_path / "runs" / "demo" / "journal.log")
    reopened, _ = open_storage(None, "demo", runs_dir=tmp_path, create=False)
    assert len(optuna.load_study(study_name="demo", storage=reopened).trials) == 1


def test_storage_urls_and_journal_paths(tmp_path):
    sqlite_url = f"sqlite:///{tmp_path / 'runs.db'}"
    storage, where = open_storage(sqlite_url, "demo")
    optuna.create_study(storage=storage, study_name="demo")
    assert (tmp_path / "runs.db").exists() and where == sqlite_url
    journal, where = open_storage(str(tmp_path / "elsewhere" / "study.jsonl"), "demo")
    assert isinstance(journal, optuna.storages.JournalStorage) and where.endswith("elsewhere/study.jsonl")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite:///{tmp}/no/such/folder/runs.db", "cannot open storage sqlite:///.*no/such/folder/runs.db"),
        ("nosuchdb://user:secret@host/db", r"cannot open storage nosuchdb://user:\*\*\*@host/db"),
        ("runs.txt", "neither an Optuna storage URL .* nor a journal file path ending in .log"),
    ],
)
def test_unusable_storage_is_a_config_error(tmp_path, url, message):
    with pytest.raises(ConfigError, match=message):
        open_storage(url.format(tmp=tmp_path), "demo")


def test_reading_a_study_that_was_never_run_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="no study journal at .*runs/ghost/journal.log; run the study first"):
        open_storage(None, "ghost", runs_dir=tmp_path, create=False)


def test_only_the_driver_repairs_a_torn_last_journal_line(tmp_path):
    storage, where = open_storage(None, "torn", runs_dir=tmp_path)
    study = optuna.create_study(storage=storage, study_name="torn")
    study.tell(study.ask(), 1.0)
    with open(where, "ab") as journal:
        journal.write(b'{"op_code": 5, "worker_id": "half-writ')  # a driver killed mid-write, or still writing
    written = open(where, "rb").read()
    for create in (True, False):  # readers (status, report, export) see the finished lines, touch nothing
        reader, _ = open_storage(None, "torn", runs_dir=tmp_path, create=create)
        assert [t.value for t in optuna.load_study(study_name="torn", storage=reader).trials] == [1.0]
    assert open(where, "rb").read() == written
    storage, _ = open_storage(None, "torn", runs_dir=tmp_path, repair=True)
    study = optuna.load_study(study_name="torn", storage=storage)
    study.tell(study.ask(), 2.0)
    storage, _ = open_storage(None, "torn", runs_dir=tmp_path)
    assert [t.value for t in optuna.load_study(study_name="torn", storage=storage).trials] == [1.0, 2.0]


def test_only_the_driver_removes_the_optuna_lock_a_killed_driver_left(tmp_path):
    storage, where = open_storage(None, "stale", runs_dir=tmp_path)
    study = optuna.create_study(storage=storage, study_name="stale")
    lock = tmp_path / "runs" / "stale" / "journal.log.lock"
    os.symlink(where, lock)  # Optuna's symlink lock, as a driver killed during a journal write leaves it
    open_storage(None, "stale", runs_dir=tmp_path, create=False)
    assert lock.is_symlink()  # a reader leaves it: it may be a live driver's
    storage, _ = open_storage(None, "stale", runs_dir=tmp_path, repair=True)
    assert not lock.is_symlink() and not lock.exists()
    study = optuna.load_study(study_name="stale", storage=storage)
    study.tell(study.ask(), 1.0)  # without waiting for Optuna to release the lock by force
    assert [t.value for t in study.trials] == [1.0]


def test_driver_lock_admits_one_driver_per_study(tmp_path):
    run_dir = run_directory("locked", tmp_path)
    with DriverLock(run_dir):
        with pytest.raises(ConfigError, match=f"another driver \\(pid {os.getpid()}\\) is running this study"):
            with DriverLock(run_dir):
                pass
    with DriverLock(run_dir):  # released on exit
        pass


def test_slots_fill_gpus_or_cpus():
    assert plan_slots(None, 0.25, 1, cpus=16, gpus=2).count == 8
    assert plan_slots(None, 1.0, 2, cpus=16, gpus=0).count == 8
    assert plan_slots(3, 0.0, 1, cpus=4, gpus=0) == plan_slots(3, 0.0, 1, cpus=4, gpus=0)
    assert plan_slots(None, 0.0, 4, cpus=2, gpus=0).count == 1


def test_gpu_study_without_gpu_runs_on_cpu_slots_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING):
        slots = plan_slots(2, 0.5, 1, cpus=2, gpus=0)
    assert (slots.count, slots.num_gpus) == (2, 0.0)
    assert "no GPU; running on CPU slots" in caplog.text


def test_too_many_workers_is_a_config_error():
    with pytest.raises(ConfigError, match="execution.workers=5 does not fit: .* 4 CPUs .*at most 4 workers"):
        plan_slots(5, 0.0, 1, cpus=4, gpus=0)


def test_objective_values_follow_the_study_order():
    result = {"val_accuracy": 0.9, "n_parameters": 1000, "latency_ms": 0.5, "images_per_second": 2000.0}
    assert objective_values(["latency", "val_accuracy", "throughput"], result) == [0.5, 0.9, 2000.0]
    with pytest.raises(MissingObjectiveError, match="'corrupted_accuracy' has no value"):
        objective_values(["corrupted_accuracy"], {**result, "corrupted_accuracy": None})


def test_the_device_is_checked_against_the_clusters_gpus():
    with pytest.raises(ConfigError, match="task.device: 'cuda' but the Ray cluster has no GPU; allowed here: 'auto'"):
        check_resources("cuda", gpus_per_trial=0, cluster_gpus=0, largest_node_gpus=0)
    with pytest.raises(ConfigError, match="task.device: 'cuda:1' but execution.gpus_per_trial is 0"):
        check_resources("cuda:1", gpus_per_trial=0, cluster_gpus=4, largest_node_gpus=4)
    assert check_resources("cuda", gpus_per_trial=0.5, cluster_gpus=2, largest_node_gpus=1) == []
    assert check_resources("auto", gpus_per_trial=2, cluster_gpus=4, largest_node_gpus=1) == [
        "execution.gpus_per_trial = 2 but the largest node of the Ray cluster has 1 GPUs: no worker can be placed; "
        "allowed: at most 1"
    ]


def test_an_unreachable_ray_address_creates_nothing(tmp_path):
    path = tmp_path / "faraway.yaml"
    path.write_text(
        "name: faraway\ntask: {dataset: digits, network: smallcnn}\nspace: {families: [relu, silu]}\n"
        "baselines: [relu]\nexecution: {gpus_per_trial: 0}\n"
    )
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # a port nothing listens on
    address = f"127.0.0.1:{closed.getsockname()[1]}"
    with pytest.raises(ConfigError, match=f"cannot reach the Ray cluster at '{address}'"):
        run_study(load_study_file(path), ray_address=address, runs_dir=tmp_path, progress=False)
    closed.close()
    assert not (tmp_path / "runs").exists()
