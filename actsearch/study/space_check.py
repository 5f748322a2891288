"""Refuse a study file whose search space no longer fits the study it resumes, before anything is written.

Optuna records each parameter's distribution with every trial and fails a new trial whose distribution of the
same name has another kind (a range turned into choices), another scale (``log``) or other choices. Running
such a file would fill the study with failed trials; :func:`check_same_space` names the parameters instead.

Example:
    >>> from actsearch.spaces import SearchSpace
    >>> space = SearchSpace.from_dict({"families": {"relu": {}, "silu": {}}})
    >>> sorted(space_distributions(space))
    ['act.family']
"""

from __future__ import annotations

from typing import Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
    check_distribution_compatibility,
)
from optuna.storages import BaseStorage

from actsearch.errors import ConfigError
from actsearch.spaces import SearchSpace

__all__ = ["check_same_space", "space_distributions"]


class _Recorder:
    """Stands in for an Optuna trial and records the distribution of each suggestion."""

    def __init__(self) -> None:
        self.distributions: dict[str, BaseDistribution] = {}

    def suggest_float(self, name: str, low: float, high: float, *, log: bool = False, step: float | None = None):
        self.distributions[name] = FloatDistribution(low, high, log=log, step=step)
        return low

    def suggest_int(self, name: str, low: int, high: int, *, log: bool = False, step: int = 1):
        self.distributions[name] = IntDistribution(low, high, log=log, step=step)
        return low

    def suggest_categorical(self, name: str, choices: Any):
        self.distributions[name] = CategoricalDistribution(choices)
        return choices[0]


def space_distributions(space: SearchSpace) -> dict[str, BaseDistribution]:
    """The Optuna distribution of every parameter the space may suggest, by parameter name."""
    recorder = _Recorder()
    for name, parameter in space.parameters().items():
        parameter.suggest(recorder, name)
    return recorder.distributions


def check_same_space(study_file, storage: BaseStorage, storage_description: str) -> None:
    """ConfigError when the study named by ``study_file`` exists in ``storage`` with trials whose recorded
    distributions its space contradicts; a missing study passes."""
    try:
        study_id = storage.get_study_id_from_name(study_file.name)
    except KeyError:
        return
    recorded: dict[str, BaseDistribution] = {}
    for trial in storage.get_all_trials(study_id, deepcopy=False):
        recorded.update(trial.distributions)
    changed = []
    for name, wanted in space_distributions(study_file.space).items():
        if name not in recorded:
            continue
        try:
            check_distribution_compatibility(recorded[name], wanted)
        except ValueError:
            changed.append(f"{name} (recorded {_describe(recorded[name])}, now {_describe(wanted)})")
    if changed:
        raise ConfigError(
            f"study {study_file.name!r} in {storage_description} recorded its trials with another search space; "
            f"{study_file.path} changes {', '.join(changed)}, which Optuna cannot mix with the recorded trials; "
            f"allowed: the study's space, or a new study `name:` (e.g. {study_file.name + '-v2'!r}) for the new one"
        )


def _describe(distribution: BaseDistribution) -> str:
    if isinstance(distribution, CategoricalDistribution):
        return f"choices {list(distribution.choices)}"
    kind = "float" if isinstance(distribution, FloatDistribution) else "int"
    stepped = distribution.step not in (None, 1)
    scale = ", log" if distribution.log else (f", step {distribution.step}" if stepped else "")
    return f"{kind} range [{distribution.low:g}, {distribution.high:g}{scale}]"
