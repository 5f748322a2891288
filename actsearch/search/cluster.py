"""The Ray side of a search: start or join Ray, size the worker slots, create the actors.

By default the driver starts a local Ray sized so every worker fits. It joins an existing cluster instead,
sized by that cluster, when given an address, when ``RAY_ADDRESS`` is set (``ray job submit`` sets it), or
when ``ray start --head`` already runs on this machine. If Ray is already initialised in the process (a
notebook, the tests) that session is used and left running. ``gpus_per_trial: auto`` is decided here, from
the cluster's resources: 1 when it has a GPU, else 0.

The study's local ``imports:`` files travel to the workers with Ray's ``runtime_env`` (``py_modules``) when
this process starts or joins Ray; every worker imports them (and the entry points) before its first trial.

Example:
    >>> slots = plan_slots(workers=None, gpus_per_trial=0.25, cpus_per_trial=1, cpus=16, gpus=2)
    >>> slots.count, slots.num_gpus
    (8, 0.25)
    >>> plan_slots(workers=None, gpus_per_trial="auto", cpus_per_trial=1, cpus=16, gpus=2).num_gpus
    1.0
"""

from __future__ import annotations

import logging
import math
import os
import socket
from dataclasses import dataclass

import ray

from actsearch.errors import ConfigError
from actsearch.search.broker import PruningBroker
from actsearch.search.runner import TrialRunner
from actsearch.search.worker import TrialWorker
from actsearch.study.plugins import ImportEntry

__all__ = ["RaySession", "WorkerSlots", "error_lines", "plan_slots"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerSlots:
    """How many workers to start and the Ray resources each one holds."""

    count: int
    num_cpus: float
    num_gpus: float


def plan_slots(
    workers: int | None, gpus_per_trial: float | str, cpus_per_trial: float, *, cpus: float, gpus: float
) -> WorkerSlots:
    """Size the slots from the cluster's total ``cpus`` and ``gpus``.

    ``gpus_per_trial`` "auto" is 1 when the cluster has a GPU, else 0. Without GPUs a study asking for them
    runs on CPU slots (with a warning). ``workers`` None means as many as fit. Raises ConfigError when the
    requested workers cannot fit.
    """
    if gpus_per_trial == "auto":
        gpus_per_trial = 1.0 if gpus >= 1 else 0.0
    if gpus_per_trial > 0 and gpus == 0:
        logger.warning(
            "execution.gpus_per_trial=%s but the Ray cluster has no GPU; running on CPU slots", gpus_per_trial
        )
        gpus_per_trial = 0.0
    fit = math.floor(gpus / gpus_per_trial + 1e-9) if gpus_per_trial else math.floor(cpus / cpus_per_trial + 1e-9)
    if workers is None:
        workers = max(1, fit)
    elif workers > fit:
        raise ConfigError(
            f"execution.workers={workers} does not fit: the Ray cluster has {cpus:g} CPUs and {gpus:g} GPUs, "
            f"each worker needs {cpus_per_trial:g} CPUs and {gpus_per_trial:g} GPUs; allowed: at most {fit} "
            "workers, or lower cpus_per_trial/gpus_per_trial"
        )
    return WorkerSlots(count=workers, num_cpus=cpus_per_trial, num_gpus=gpus_per_trial)


class RaySession:
    """Context manager owning Ray for one run: starts or joins it, creates and replaces workers.

    ``workers`` and ``cpus_per_trial`` size a local Ray so that every worker fits even on a small machine.
    """

    def __init__(
        self,
        address: str | None,
        *,
        workers: int | None,
        cpus_per_trial: float,
        gpus_per_trial: float | str,
        imports: tuple[ImportEntry, ...] = (),
        verbose: bool = False,
    ) -> None:
        self.address = address
        self._imports = tuple(imports)
        self._workers = workers
        self._cpus_per_trial = cpus_per_trial
        self._gpus_per_trial = gpus_per_trial
        self._verbose = verbose
        self._owned = False
        self.joined = False  # this run joined a cluster started by someone else (its nodes have their own files)
        self._worker_class = None
        self.slots: WorkerSlots | None = None

    def __enter__(self) -> RaySession:
        if not ray.is_initialized():
            self._start()
        resources = ray.cluster_resources()
        try:
            self.slots = plan_slots(
                self._workers,
                self._gpus_per_trial,
                self._cpus_per_trial,
                cpus=resources.get("CPU", 0.0),
                gpus=resources.get("GPU", 0.0),
            )
        except ConfigError:
            self.__exit__(None, None, None)
            raise
        return self

    def _start(self) -> None:
        options = {
            "include_dashboard": False,
            "log_to_driver": self._verbose,
            "logging_level": logging.INFO if self._verbose else logging.ERROR,
        }
        files = [entry.file for entry in self._imports if entry.file is not None]
        if files:
            options["runtime_env"] = {"py_modules": files}
        environment_address = os.environ.get("RAY_ADDRESS")
        if self.address or environment_address:
            # With RAY_ADDRESS, Ray itself reads the address (and, for a cluster started on this machine, its
            # authentication token): it is not passed on.
            where = self.address or f"{environment_address} (RAY_ADDRESS)"
            _check_reachable(self.address or environment_address)
            self.joined = True
            try:
                ray.init(address=self.address, **options)
            except (ConnectionError, RuntimeError, ValueError) as error:
                raise ConfigError(
                    f"cannot join the Ray cluster at {where}: {error}; allowed: the address of a running head node "
                    "(`ray start --head` prints it, e.g. 'HEAD_IP:6379'; a cluster with token authentication also "
                    "needs RAY_AUTH_MODE=token and its token), or none for a local Ray"
                ) from None
        else:
            cpus = os.cpu_count() or 1
            if self._workers:
                cpus = max(cpus, math.ceil(self._workers * self._cpus_per_trial))
            try:
                ray.init(num_cpus=cpus, **options)
            except ValueError as error:
                # `ray start --head` runs on this machine: Ray joins it, and that cluster has its own size.
                if "existing cluster" not in str(error):
                    raise
                logger.info("joining the Ray cluster already running on this machine")
                self.joined = True
                ray.init(**options)
        self._owned = True

    def __exit__(self, *exc_info: object) -> None:
        if self._owned:
            ray.shutdown()
            self._owned = False

    def start_broker(self):
        """The pruning broker actor: async, no CPU reserved."""
        return ray.remote(PruningBroker).options(num_cpus=0, max_restarts=0, max_task_retries=0).remote()

    def start_worker(self, trial_runner: TrialRunner, broker):
        """One worker actor on a slot; Ray never restarts or retries it, the driver replaces it."""
        assert self.slots is not None
        options = {"num_cpus": self.slots.num_cpus, "max_restarts": 0, "max_task_retries": 0}
        if self.slots.num_gpus:
            options["num_gpus"] = self.slots.num_gpus
        threads = max(1, math.floor(self.slots.num_cpus))
        if self._worker_class is None:
            self._worker_class = ray.remote(TrialWorker)
        return self._worker_class.options(**options).remote(trial_runner, broker, threads, self._imports)


def _check_reachable(address: str) -> None:
    """Fail in seconds, not after Ray's minutes of retries, when nothing listens at ``host:port``."""
    host, _, port = address.split("://", 1)[-1].rpartition(":")
    if not host or not port.isdigit():
        return  # "auto" and other forms: Ray resolves them itself
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as error:
        raise ConfigError(
            f"cannot reach the Ray cluster at {address!r} ({error.strerror or error}); allowed: the address of a "
            "running head node (`ray start --head --port=6379` on it, then HEAD_IP:6379), or none for a local Ray"
        ) from None


def error_lines(error: BaseException) -> str:
    """The informative lines of a long Ray error: its first, and its last (the underlying exception)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    text = lines[0][:300]
    return text if len(lines) == 1 else f"{text} ... {lines[-1][:300]}"
