"""What a search run did: the counts, the best trials, the timings and why it stopped.

Example:
    >>> from pathlib import Path
    >>> print(RunSummary("demo", "runs/demo/journal.log", Path("runs/demo"), target=4, finished=4, complete=3,
    ...                  pruned=1, failed=0, retried=0, best=[(2, [0.97])], loop_s=12.0))
    demo: 4/4 finished (3 complete, 1 pruned, 0 failed) in 12.0 s; best 0.97 (trial 2); study in runs/demo/journal.log, trial logs in runs/demo/trials
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["RunSummary"]


@dataclass(frozen=True)
class RunSummary:
    """What a run did. ``str(summary)`` is the one-line summary printed at the end of a run."""

    study_name: str
    storage: str
    run_dir: Path
    target: int  # finished trials wanted
    finished: int  # COMPLETE + PRUNED trials in the study after the run
    complete: int  # in this run
    pruned: int
    failed: int
    retried: int
    recovered: list[int] = field(default_factory=list)  # interrupted trials found at start
    best: list[tuple[int, list[float]]] = field(default_factory=list)  # (trial number, values)
    workers: int = 0
    startup_s: float = 0.0  # Ray and workers up
    loop_s: float = 0.0  # first dispatch to last tell
    stopped: str = "budget reached"

    def __str__(self) -> str:
        counts = f"{self.complete} complete, {self.pruned} pruned, {self.failed} failed"
        if self.retried:
            counts += f", {self.retried} retried"
        line = f"{self.study_name}: {self.finished}/{self.target} finished ({counts}) in {self.loop_s:.1f} s"
        if self.best:
            number, values = self.best[0]
            shown = ", ".join(f"{value:.4g}" for value in values)
            line += f"; best {shown} (trial {number})" if len(self.best) == 1 else f"; {len(self.best)} Pareto trials"
        if self.stopped != "budget reached":
            line += f"; stopped: {self.stopped}"
        return line + f"; study in {self.storage}, trial logs in {self.run_dir / 'trials'}"
