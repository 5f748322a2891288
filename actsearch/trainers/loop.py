"""The training loop: one configuration trained and scored (airbench style).

The data stays on the device as uint8; each step gathers a batch by index, augments it with batched tensor ops,
normalizes it and takes an optimizer step; the learning rate is scheduled per iteration. Nothing in the loop
syncs with the host except the divergence check: the loss is summed on the device and checked for NaN/inf every
``divergence_check_steps`` iterations and at the end of each epoch. Channels-last memory layout everywhere; on
CUDA also bf16 autocast and cuDNN autotuning (off in deterministic mode).

Example::

    >>> from actsearch.trainers import Task, run_trial
    >>> result = run_trial(Task(dataset="digits", network="smallcnn", epochs=1), "relu")
    >>> result.epochs_completed, 0.0 <= result.val_accuracy <= 1.0
    (1, True)
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Mapping

import torch
import torch.nn as nn

from actsearch.errors import ConfigError
from actsearch.trainers.augment import Augmentation, default_padding
from actsearch.trainers.cifar_c import cifar_c_for_task
from actsearch.trainers.corruptions import CIFAR_C, resolve_corruptions
from actsearch.trainers.data import DeviceData, load_data
from actsearch.trainers.evaluate import Preprocess, evaluate, measure_latency, synchronize
from actsearch.trainers.hparams import resolve_hparams
from actsearch.trainers.indices import epoch_batches, steps_per_epoch
from actsearch.trainers.networks import build_network
from actsearch.trainers.optim import build_optimizer, build_scheduler
from actsearch.trainers.result import DivergenceError, TrialOutOfMemoryError, TrialResult
from actsearch.trainers.robustness import evaluate_cifar_c, evaluate_corrupted
from actsearch.trainers.task import Task, resolve_device

__all__ = ["run_trial"]

EpochCallback = Callable[[int, dict], None]


def run_trial(task: Task, plan, hparams: Mapping[str, object] | None = None, *, data: DeviceData | None = None,
              on_epoch: EpochCallback | None = None, evaluate_test: bool = False) -> TrialResult:
    """Train ``task.network`` with ``plan``'s activations and return its scores.

    - ``plan``: anything :meth:`actsearch.activations.PlacementPlan.parse` accepts (``"relu"``, a spec, a plan).
    - ``hparams``: overrides of :data:`~actsearch.trainers.DEFAULT_HPARAMS`.
    - ``data``: a :class:`DeviceData` already loaded for ``task`` (a worker reuses it across trials); loaded if
      ``None``.
    - ``on_epoch(epoch, metrics)``: called after each epoch (``epoch`` from 1) with the epoch's history entry;
      whatever it raises (e.g. ``optuna.TrialPruned``) propagates.
    - ``evaluate_test``: also score the test set (final evaluation); corrupted accuracy then uses test images.

    Raises :class:`DivergenceError` (NaN/inf loss), :class:`TrialOutOfMemoryError` (CUDA out of memory),
    :class:`~actsearch.errors.ConfigError` (bad hyperparameters, unknown corruption, missing dataset).
    """
    started = time.perf_counter()
    hparams = resolve_hparams(hparams)
    device = resolve_device(task.device)
    corruptions = resolve_corruptions(task.corruptions) if task.corruptions is not None else None
    if corruptions == [CIFAR_C]:  # found (or downloaded) before training, so a missing file fails fast
        corruptions = cifar_c_for_task(task)
    try:
        with _seeded(task.seed, device), _algorithms(task.deterministic, device):
            data = load_data(task, device) if data is None else data.to(device)
            return _train(task, plan, hparams, data, on_epoch, evaluate_test, corruptions, started)
    except torch.cuda.OutOfMemoryError as exc:
        out_of_memory = str(exc).splitlines()[0] if str(exc) else "CUDA out of memory"
    # Raised outside the except block so the traceback (and the tensors its frames hold) is released first.
    torch.cuda.empty_cache()
    raise TrialOutOfMemoryError(f"{out_of_memory} (network {task.network}, width {task.width}, "
                                f"batch {task.batch_size}, device {device})")


def _train(task: Task, plan, hparams: dict, data: DeviceData, on_epoch: EpochCallback | None,
           evaluate_test: bool, corruptions, started: float) -> TrialResult:
    device = data.device
    on_cuda = device.type == "cuda"
    # channels-last convolutions are faster on GPUs and, through oneDNN, on CPUs too (about 15% for ResNet-20)
    memory_format = torch.channels_last
    autocast_dtype = {"auto": torch.bfloat16 if on_cuda else None, "bf16": torch.bfloat16, "fp32": None}[
        hparams["precision"]]
    preprocess = Preprocess(data.mean, data.std, memory_format=memory_format, autocast_dtype=autocast_dtype)

    model = build_network(task, plan, data.num_classes, data.in_channels).to(device)
    _materialize_lazy_parameters(model, preprocess(data.val_images[:2]))
    model = model.to(memory_format=memory_format)
    n_parameters = sum(p.numel() for p in model.parameters())
    forward = torch.compile(model) if task.compile else model
    steps = steps_per_epoch(len(data.train_labels), task.batch_size)
    optimizer = build_optimizer(model, hparams)
    scheduler = build_scheduler(optimizer, hparams, steps * task.epochs, steps)
    criterion = nn.CrossEntropyLoss(label_smoothing=hparams["label_smoothing"])
    padding = default_padding(data.image_size) if hparams["crop_padding"] is None else hparams["crop_padding"]
    if hparams["crop_mode"] == "reflect" and padding >= data.image_size:
        raise ConfigError(f"train.crop_padding = {padding} must be smaller than the image side ({data.image_size} "
                          "px) for reflect padding; use a smaller crop_padding, crop_mode 'zero', or 0 (no crop)")
    augmentation = Augmentation(
        padding=padding,
        mode=hparams["crop_mode"],
        flip=data.flip if hparams["flip"] is None else hparams["flip"],
        cutout=hparams["cutout"],
        fill=(data.mean * 255).round().to(torch.uint8),
    )
    generator = torch.Generator(device=device).manual_seed(task.seed)

    history: list[dict] = []
    best_state: dict[str, torch.Tensor] | None = None
    best_accuracy = -1.0
    train_seconds, train_images = 0.0, 0
    for epoch in range(1, task.epochs + 1):
        epoch_start = time.perf_counter()
        loss_sum, correct, seen = _train_epoch(
            forward, data, task.batch_size, generator, augmentation, preprocess, criterion, optimizer, scheduler,
            epoch, hparams["divergence_check_steps"])
        synchronize(device)
        train_seconds += time.perf_counter() - epoch_start
        train_images += seen
        val_accuracy, val_loss = evaluate(forward, data.val_images, data.val_labels, preprocess,
                                          batch_size=hparams["eval_batch_size"])
        metrics = {
            "epoch": epoch,
            "train_loss": loss_sum.item() / steps,
            "train_accuracy": correct.item() / max(seen, 1),
            "val_loss": val_loss,
            "val_accuracy": val_accuracy,
            "lr": optimizer.param_groups[0]["lr"],
            "seconds": time.perf_counter() - started,
        }
        history.append(metrics)
        if hparams["checkpoint"] == "best" and val_accuracy > best_accuracy:
            best_accuracy = val_accuracy
            best_state = {name: value.detach().clone() for name, value in model.state_dict().items()}
        if on_epoch is not None:
            on_epoch(epoch, dict(metrics))

    if best_state is not None:
        model.load_state_dict(best_state)
        val_accuracy = best_accuracy
    test_accuracy = None
    if evaluate_test:
        test_accuracy, _ = evaluate(forward, data.test_images, data.test_labels, preprocess,
                                    batch_size=hparams["eval_batch_size"])
    latency_batch = torch.arange(task.batch_size, device=device) % len(data.val_images)
    latency_ms = measure_latency(forward, data.val_images[latency_batch], preprocess)
    corrupted = None
    if isinstance(corruptions, os.PathLike):  # the CIFAR-C release folder, else corruption names or None
        corrupted = evaluate_cifar_c(model, corruptions, mean=data.mean, std=data.std, corruptions="all",
                                     severities=task.severities, batch_size=hparams["eval_batch_size"],
                                     limit=task.corruption_images)
    elif corruptions is not None:
        images, labels = (data.test_images, data.test_labels) if evaluate_test else (data.val_images, data.val_labels)
        limit = task.corruption_images or len(images)
        corrupted = evaluate_corrupted(model, images[:limit], labels[:limit], mean=data.mean, std=data.std,
                                       corruptions=corruptions, severities=task.severities, seed=task.seed,
                                       batch_size=hparams["eval_batch_size"])
    return TrialResult(
        val_accuracy=val_accuracy,
        test_accuracy=test_accuracy,
        corrupted=corrupted,
        corrupted_accuracy=corrupted["mean"] if corrupted is not None else None,
        epochs_completed=len(history),
        history=history,
        n_parameters=n_parameters,
        images_per_second=train_images / max(train_seconds, 1e-9),
        latency_ms=latency_ms,
        seconds=time.perf_counter() - started,
    )


def _train_epoch(forward: nn.Module, data: DeviceData, batch_size: int, generator: torch.Generator,
                 augmentation: Augmentation, preprocess: Preprocess, criterion: nn.Module,
                 optimizer: torch.optim.Optimizer, scheduler, epoch: int,
                 check_every: int) -> tuple[torch.Tensor, torch.Tensor, int]:
    """One pass over the training split: (summed loss and correct count, on the device; images seen)."""
    forward.train()
    device = data.device
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.long, device=device)
    seen = 0
    for step, index in enumerate(epoch_batches(len(data.train_labels), batch_size, generator), start=1):
        labels = data.train_labels[index]
        images = preprocess(augmentation(data.train_images[index], generator))
        with preprocess.autocast(device):
            logits = forward(images)
            loss = criterion(logits, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        loss_sum += loss.detach().float()
        correct += (logits.detach().argmax(dim=1) == labels).sum()
        seen += len(index)
        if step % check_every == 0:
            _check_finite(loss_sum, epoch)
    _check_finite(loss_sum, epoch)
    return loss_sum, correct, seen


def _check_finite(loss_sum: torch.Tensor, epoch: int) -> None:
    if not torch.isfinite(loss_sum).item():
        raise DivergenceError("nan" if torch.isnan(loss_sum).item() else "inf", epoch)


def _materialize_lazy_parameters(model: nn.Module, sample: torch.Tensor) -> None:
    """Run one eval-mode forward pass if an activation infers its shape lazily, so the optimizer sees it."""
    if any(isinstance(p, nn.parameter.UninitializedParameter) for p in model.parameters()):
        model.eval()
        with torch.no_grad():
            model(sample)
        model.train()


@contextlib.contextmanager
def _seeded(seed: int, device: torch.device):
    """Seed torch's global generators for the trial (weight init, dropout) and restore them afterwards."""
    cuda_devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda_devices):
        torch.manual_seed(seed)
        yield


@contextlib.contextmanager
def _algorithms(deterministic: bool, device: torch.device):
    """Deterministic kernels (warning where PyTorch has none) or cuDNN autotuning, restored afterwards."""
    previous = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
                torch.backends.cudnn.benchmark)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
    else:
        torch.backends.cudnn.benchmark = device.type == "cuda"
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous[0], warn_only=previous[1])
        torch.backends.cudnn.benchmark = previous[2]
