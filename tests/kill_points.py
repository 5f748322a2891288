"""Kill the current process (SIGKILL) right after one write of a retry: the FAIL record, or the queued retry.

Used by the kill tests' driver scripts: ``install("tell")`` patches ``optuna.Study.tell`` to die right after
telling a trial FAIL; ``install("enqueue")`` patches ``optuna.Study.enqueue_trial`` to die right after queuing
a retry (user attribute ``retry_of``). ``install("none")`` changes nothing.
"""

from __future__ import annotations

import os
import signal

import optuna
from optuna.trial import TrialState

STEPS = ("tell", "enqueue")


def install(step: str) -> None:
    tell, enqueue = optuna.Study.tell, optuna.Study.enqueue_trial

    def tell_then_die(self, *args, **kwargs):
        frozen = tell(self, *args, **kwargs)
        if step == "tell" and kwargs.get("state") == TrialState.FAIL:
            os.kill(os.getpid(), signal.SIGKILL)
        return frozen

    def enqueue_then_die(self, params, *args, user_attrs=None, **kwargs):
        enqueue(self, params, *args, user_attrs=user_attrs, **kwargs)
        if step == "enqueue" and user_attrs and "retry_of" in user_attrs:
            os.kill(os.getpid(), signal.SIGKILL)

    optuna.Study.tell = tell_then_die
    optuna.Study.enqueue_trial = enqueue_then_die
