"""Pruning broker: carries epoch reports from workers to the driver and decisions back.

Workers run inside Ray actors and cannot see the study; the driver is the study's only writer. A
worker calls :meth:`PruningBroker.progress` after each epoch (fire and forget: the driver logs the
epoch) and, when pruning is on, :meth:`PruningBroker.report`, waiting for the answer; the driver
collects both with :meth:`PruningBroker.next_reports`, asks the study's pruner, and answers with
:meth:`PruningBroker.decide`. The broker is an async Ray actor, so waiting workers cost no thread.

Example (without Ray: the methods are plain coroutines):
    >>> import asyncio
    >>> async def demo():
    ...     broker = PruningBroker()
    ...     answer = asyncio.ensure_future(broker.report(7, 1, 0.25))
    ...     await asyncio.sleep(0)  # the worker's report arrives
    ...     await broker.progress(7, 1, {"val_accuracy": 0.25})
    ...     reports, progress = await broker.next_reports()
    ...     broker.decide([(7, True)])
    ...     return reports, progress, await answer
    >>> asyncio.run(demo())
    ([(7, 1, 0.25)], [(7, 1, {'val_accuracy': 0.25})], True)
"""

from __future__ import annotations

import asyncio

__all__ = ["PruningBroker"]


class PruningBroker:
    """Queue of ``(trial number, epoch, value)`` reports and their pending prune decisions, and of
    ``(trial number, epoch, metrics)`` progress notes."""

    def __init__(self) -> None:
        self._reports: list[tuple[int, int, float]] = []
        self._progress: list[tuple[int, int, dict]] = []
        self._waiting: dict[int, asyncio.Future] = {}
        self._arrived: asyncio.Event | None = None

    def _event(self) -> asyncio.Event:
        # Created lazily so that it binds to the actor's running event loop.
        if self._arrived is None:
            self._arrived = asyncio.Event()
        return self._arrived

    async def report(self, trial_number: int, epoch: int, value: float) -> bool:
        """Called by a worker after an epoch; returns True when the trial should stop."""
        decision = asyncio.get_running_loop().create_future()
        self._waiting[trial_number] = decision
        self._reports.append((trial_number, epoch, value))
        self._event().set()
        return await decision

    async def progress(self, trial_number: int, epoch: int, metrics: dict) -> None:
        """Called by a worker after each epoch, without waiting: the epoch's metrics for the driver's logs."""
        self._progress.append((trial_number, epoch, metrics))
        self._event().set()

    async def next_reports(self) -> tuple[list[tuple[int, int, float]], list[tuple[int, int, dict]]]:
        """Called by the driver: waits until a report or a progress note arrived, then returns all of both."""
        while not self._reports and not self._progress:
            await self._event().wait()
            self._event().clear()
        reports, self._reports = self._reports, []
        progress, self._progress = self._progress, []
        return reports, progress

    def decide(self, decisions: list[tuple[int, bool]]) -> None:
        """Called by the driver: answer waiting workers, ``(trial number, prune)`` each."""
        for trial_number, prune in decisions:
            decision = self._waiting.pop(trial_number, None)
            if decision is not None and not decision.done():
                decision.set_result(prune)
