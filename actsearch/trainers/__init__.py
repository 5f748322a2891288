"""Fast proxy training: device-resident data, proxy CNNs, clean and corrupted evaluation.

Example::

    >>> from actsearch.trainers import Task, run_trial
    >>> task = Task(dataset="digits", network="smallcnn", epochs=2)
    >>> result = run_trial(task, "la_silu", {"lr": 0.05})
    >>> result.val_accuracy > 0.1
    True
"""

from __future__ import annotations

from actsearch.trainers.augment import Augmentation
from actsearch.trainers.cifar_c import load_cifar_c
from actsearch.trainers.command import train_command
from actsearch.trainers.corruptions import CORRUPTION_CATEGORIES, CORRUPTIONS, corrupt, resolve_corruptions
from actsearch.trainers.data import DeviceData, load_data
from actsearch.trainers.datasets import DATASETS
from actsearch.trainers.hparams import DEFAULT_HPARAMS, resolve_hparams
from actsearch.trainers.loop import run_trial
from actsearch.trainers.networks import NETWORKS, build_network, network_stages, register_network
from actsearch.trainers.presets import PAPER_SETUPS, paper_setup
from actsearch.trainers.result import DatasetNotFoundError, DivergenceError, TrialOutOfMemoryError, TrialResult
from actsearch.trainers.robustness import evaluate_cifar_c, evaluate_corrupted
from actsearch.trainers.task import Task

__all__ = [
    "CORRUPTIONS",
    "CORRUPTION_CATEGORIES",
    "DATASETS",
    "DEFAULT_HPARAMS",
    "NETWORKS",
    "PAPER_SETUPS",
    "Augmentation",
    "DatasetNotFoundError",
    "DeviceData",
    "DivergenceError",
    "Task",
    "TrialOutOfMemoryError",
    "TrialResult",
    "build_network",
    "corrupt",
    "evaluate_cifar_c",
    "evaluate_corrupted",
    "load_cifar_c",
    "load_data",
    "network_stages",
    "paper_setup",
    "register_network",
    "resolve_corruptions",
    "resolve_hparams",
    "run_trial",
    "train_command",
]
