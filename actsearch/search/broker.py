"""Pruning broker: carries epoch reports from workers to the driver and decisions back.

Workers run inside Ray actors and cannot see the study; the driver is the study's only writer. A
worker calls :meth:`PruningBroker.report` after each epoch and waits for the answer; the driver
collects reports with :meth:`PruningBroker.next_reports`, asks the study's pruner, and answers with
:meth:`PruningBroker.decide`. The broker is an async Ray actor, so waiting workers cost no thread.

Example (without Ray: the methods are plain coroutines):
    >>> import asyncio
    >>> async def demo():
    ...     broker = PruningBroker()
    ...     answer = asyncio.ensure_future(broker.report(7, 1, 0.25))
    ...     reports = await broker.next_reports()
    ...     broker.decide([(7, True)])
    ...     return reports, await answer
    >>> asyncio.run(demo())
    ([(7, 1, 0.25)], True)
"""

from __future__ import annotations

import asyncio

__all__ = ["PruningBroker"]


class PruningBroker:
    """Queue of ``(trial number, epoch, value)`` reports and their pending prune decisions."""

    def __init__(self) -> None:
        self._reports: list[tuple[int, int, float]] = []
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

    async def next_reports(self) -> list[tuple[int, int, float]]:
        """Called by the driver: waits until at least one report arrived, then returns all of them."""
        while not self._reports:
            await self._event().wait()
            self._event().clear()
        reports, self._reports = self._reports, []
        return reports

    def decide(self, decisions: list[tuple[int, bool]]) -> None:
        """Called by the driver: answer waiting workers, ``(trial number, prune)`` each."""
        for trial_number, prune in decisions:
            decision = self._waiting.pop(trial_number, None)
            if decision is not None and not decision.done():
                decision.set_result(prune)
