"""Training hyperparameters: one dict of defaults, units in the comments.

A trial's ``train`` dict overrides keys of :data:`DEFAULT_HPARAMS`; :func:`resolve_hparams` merges and
checks it. The LayerAct CIFAR recipe (SGD 0.1, momentum 0.9, weight decay 1e-4, batch 128, 182 epochs, lr/10
at 50% and 75% of the iterations) reads::

    {"optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "nesterov": False, "weight_decay": 1e-4,
     "schedule": "step", "milestones": [0.5, 0.75], "gamma": 0.1, "crop_mode": "zero",
     "checkpoint": "best"}

with ``Task(epochs=182, batch_size=128, val_fraction=0.1)`` (see :mod:`actsearch.trainers.presets`).

Example::

    >>> from actsearch.trainers.hparams import resolve_hparams
    >>> resolve_hparams({"lr": 0.05})["lr"]
    0.05
"""

from __future__ import annotations

from collections.abc import Mapping

from actsearch.errors import ConfigError, is_number, unknown_name

__all__ = ["DEFAULT_HPARAMS", "resolve_hparams"]

DEFAULT_HPARAMS: dict[str, object] = {
    "optimizer": "sgd",  # "sgd" | "adamw"
    "lr": 0.1,  # peak learning rate, per optimizer step (no batch-size scaling)
    "momentum": 0.9,  # SGD momentum (also AdamW's beta1)
    "nesterov": True,  # SGD Nesterov momentum
    "beta2": 0.999,  # AdamW second-moment decay
    "weight_decay": 5e-4,  # decoupled for AdamW, L2 for SGD; never on biases, norm or activation parameters
    "schedule": "cosine",  # "cosine" | "step" | "onecycle" | "constant", stepped every iteration
    "milestones": (0.5, 0.75),  # step schedule: fractions of all iterations where lr is multiplied by gamma
    "gamma": 0.1,  # step schedule: lr factor at each milestone
    "onecycle_peak": 0.25,  # onecycle: fraction of iterations spent rising from lr/25 to lr
    "final_lr_fraction": 0.0,  # cosine and onecycle: lr at the last iteration, as a fraction of lr
    "warmup_epochs": 0.0,  # epochs (may be fractional) of linear warm-up from 0 to the schedule's lr
    "label_smoothing": 0.0,  # cross-entropy label smoothing, 0..1
    "crop_padding": None,  # pixels of random-crop padding; None = 4 px per 32 px of image side, 0 = no crop
    "crop_mode": "reflect",  # "reflect" | "zero" padding for the random crop
    "flip": None,  # random horizontal flip; None = the dataset's default (off for digits, mnist, svhn)
    "cutout": 0,  # side in pixels of one zeroed square per training image; 0 = off
    "eval_batch_size": 1000,  # images per forward pass in evaluation
    "precision": "auto",  # "auto" (bf16 autocast on CUDA, fp32 elsewhere) | "fp32" | "bf16"
    "checkpoint": "last",  # weights evaluated at the end: "last" epoch | "best" validation epoch
    "divergence_check_steps": 50,  # iterations between loss checks (each check is one device sync)
    # divergence: a mean loss above this multiple of max(first step's loss, ln(classes)) fails the trial; 0 = off
    "divergence_loss_factor": 10.0,
    # divergence: validation accuracy at chance (<= 1.2/classes) after this many epochs fails the trial; 0 = off
    "chance_patience_epochs": 3,
}

_CHOICES = {
    "optimizer": ("sgd", "adamw"),
    "schedule": ("cosine", "step", "onecycle", "constant"),
    "crop_mode": ("reflect", "zero"),
    "precision": ("auto", "fp32", "bf16"),
    "checkpoint": ("last", "best"),
}
_NON_NEGATIVE = ("weight_decay", "gamma", "final_lr_fraction", "warmup_epochs", "cutout")


def resolve_hparams(overrides: Mapping[str, object] | None = None) -> dict[str, object]:
    """Return :data:`DEFAULT_HPARAMS` updated with ``overrides``, checked.

    Raises :class:`~actsearch.errors.ConfigError` naming the key and what is allowed.
    """
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(DEFAULT_HPARAMS))
    if unknown:
        raise ConfigError("\n".join(f"train.{key}: " + unknown_name("training hyperparameter", key,
                                                                     sorted(DEFAULT_HPARAMS)) for key in unknown))
    hparams = {**DEFAULT_HPARAMS, **overrides}
    for key, allowed in _CHOICES.items():
        if hparams[key] not in allowed:
            raise ConfigError(f"train.{key}: {hparams[key]!r} is not allowed; allowed: {', '.join(allowed)}")
    if not is_number(hparams["lr"]) or hparams["lr"] <= 0:
        raise ConfigError(f"train.lr: must be a number > 0; got {hparams['lr']!r}")
    for key in _NON_NEGATIVE:
        if not is_number(hparams[key]) or hparams[key] < 0:
            raise ConfigError(f"train.{key}: must be a number >= 0; got {hparams[key]!r}")
    if not is_number(hparams["momentum"]) or not 0 <= hparams["momentum"] < 1:
        raise ConfigError(f"train.momentum: must be a number in [0, 1) (SGD momentum, AdamW beta1); "
                          f"got {hparams['momentum']!r}")
    for key in ("beta2", "onecycle_peak"):
        if not is_number(hparams[key]) or not 0 < hparams[key] < 1:
            raise ConfigError(f"train.{key}: must be a number between 0 and 1 (exclusive); got {hparams[key]!r}")
    if not is_number(hparams["label_smoothing"]) or not 0 <= hparams["label_smoothing"] < 1:
        raise ConfigError(f"train.label_smoothing: must be in [0, 1); got {hparams['label_smoothing']!r}")
    milestones = hparams["milestones"]
    if not isinstance(milestones, (list, tuple)) or not all(is_number(m) and 0 < m < 1 for m in milestones):
        raise ConfigError(f"train.milestones: must be a list of fractions of training in (0, 1); got {milestones!r}")
    hparams["milestones"] = tuple(sorted(milestones))
    if not isinstance(hparams["nesterov"], bool):
        raise ConfigError(f"train.nesterov: must be true or false; got {hparams['nesterov']!r}")
    if hparams["flip"] is not None and not isinstance(hparams["flip"], bool):
        raise ConfigError(f"train.flip: must be true, false or null (the dataset's default); got {hparams['flip']!r}")
    if hparams["crop_padding"] is not None and not _is_count(hparams["crop_padding"], minimum=0):
        raise ConfigError(f"train.crop_padding: must be an integer >= 0 or null (auto); got {hparams['crop_padding']!r}")
    factor = hparams["divergence_loss_factor"]
    if not is_number(factor) or not (factor == 0 or factor > 1):
        raise ConfigError(f"train.divergence_loss_factor: must be 0 (off) or a number > 1 (a multiple of the "
                          f"starting loss); got {factor!r}")
    if not _is_count(hparams["chance_patience_epochs"], minimum=0):
        raise ConfigError(f"train.chance_patience_epochs: must be an integer >= 0 (epochs; 0 = off); "
                          f"got {hparams['chance_patience_epochs']!r}")
    if not _is_count(hparams["cutout"], minimum=0):
        raise ConfigError(f"train.cutout: must be an integer >= 0 (pixels); got {hparams['cutout']!r}")
    for key in ("eval_batch_size", "divergence_check_steps"):
        if not _is_count(hparams[key], minimum=1):
            raise ConfigError(f"train.{key}: must be an integer >= 1; got {hparams[key]!r}")
    return hparams


def _is_count(value: object, *, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum
