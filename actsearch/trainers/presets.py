"""Published training setups as ready-made (task, hyperparameters) pairs.

``layeract-<dataset>-<network>`` (dataset ``cifar10`` or ``cifar100``; network ``resnet20``, ``resnet32`` or
``resnet44``) is the LayerAct paper's CIFAR recipe: SGD lr 0.1, momentum 0.9 (no Nesterov), weight decay 1e-4,
batch 128, 182 epochs (64k iterations) with lr/10 at 50% and 75% of the iterations, 10% stratified validation
split, the best-validation checkpoint tested on the test set, 4-pixel zero-padded random crop and horizontal
flip, every corruption at every severity on the whole test set. The paper averages 30 seeds, ``11 * i``.

Where these presets differ from the official LayerAct code, and why: weight decay here never applies to biases,
normalisation or activation parameters (the official code decays every parameter), and the proxy ResNets'
convolutions have no bias and Kaiming-normal initialisation (the official code keeps PyTorch's defaults). Both
follow this package's trainer, which every family shares, so that families are compared on the same footing;
neither is a preset option yet, so a bit-for-bit reproduction of the official runs needs those two changes.

Example::

    >>> from actsearch.trainers.presets import paper_setup
    >>> task, hparams = paper_setup("layeract-cifar10-resnet20", seed=11)
    >>> task.epochs, task.batch_size, hparams["schedule"], hparams["milestones"]
    (182, 128, 'step', (0.5, 0.75))

Full reproduction of one run, from Python::

    from actsearch.trainers import paper_setup, train_command
    task, hparams = paper_setup("layeract-cifar10-resnet20", data_root="~/data", seed=11)
    train_command(task, "la_silu", hparams)   # prints validation, test and corrupted accuracy

On the command line (with CIFAR-10 in ``data_root``; the corrupted accuracy then covers the first 1000 test
images, ``Task.corruption_images``, instead of all 10,000)::

    actsearch train --activation la_silu --dataset cifar10 --network resnet20 --epochs 182 --batch-size 128 \\
        --corruptions all --set optimizer=sgd --set lr=0.1 --set momentum=0.9 --set nesterov=false \\
        --set weight_decay=1e-4 --set schedule=step --set "milestones=[0.5, 0.75]" --set crop_mode=zero \\
        --set checkpoint=best
"""

from __future__ import annotations

from actsearch.errors import ConfigError, unknown_name
from actsearch.trainers.hparams import resolve_hparams
from actsearch.trainers.task import Task

__all__ = ["PAPER_SETUPS", "paper_setup"]

_LAYERACT_HPARAMS = {
    "optimizer": "sgd",
    "lr": 0.1,
    "momentum": 0.9,
    "nesterov": False,
    "weight_decay": 1e-4,
    "schedule": "step",
    "milestones": (0.5, 0.75),
    "gamma": 0.1,
    "warmup_epochs": 0.0,
    "label_smoothing": 0.0,
    "crop_padding": 4,
    "crop_mode": "zero",
    "flip": True,
    "cutout": 0,
    "checkpoint": "best",
}

PAPER_SETUPS: dict[str, tuple[dict[str, object], dict[str, object]]] = {
    f"layeract-{dataset}-{network}": (
        {"dataset": dataset, "network": network, "epochs": 182, "batch_size": 128, "val_fraction": 0.1,
         "corruptions": "all", "corruption_images": None},
        _LAYERACT_HPARAMS,
    )
    for dataset in ("cifar10", "cifar100")
    for network in ("resnet20", "resnet32", "resnet44")
}


def paper_setup(name: str, **task_overrides: object) -> tuple[Task, dict[str, object]]:
    """The named setup's :class:`Task` (fields overridable, e.g. ``data_root``, ``seed``) and hyperparameters."""
    if name not in PAPER_SETUPS:
        raise ConfigError(unknown_name("paper setup", name, PAPER_SETUPS))
    task_fields, hparams = PAPER_SETUPS[name]
    return Task.from_dict({**task_fields, **task_overrides}), resolve_hparams(hparams)
