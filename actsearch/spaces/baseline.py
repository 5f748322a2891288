"""A baseline: a named configuration evaluated before the sampler takes over (ReLU, SiLU, LayerAct, ...).

Written in a study file as ``{name?, family, <family parameters>..., train?: {...}}``; the activation is
used in every slot of the space. :meth:`actsearch.spaces.SearchSpace.baseline_params` turns it into the
Optuna params to enqueue.

Example:
    >>> Baseline.parse({"name": "layeract", "family": "la_silu", "alpha": 1e-5})
    Baseline(family='la_silu', params={'alpha': 1e-05}, train={}, name='layeract')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from actsearch.spaces.errors import Problems, SearchSpaceError

__all__ = ["Baseline"]


@dataclass(frozen=True)
class Baseline:
    """``family`` with ``params`` (the rest at their defaults) and ``train`` values; ``name`` defaults to
    the family."""

    family: str
    params: Mapping[str, Any] = field(default_factory=dict)
    train: Mapping[str, Any] = field(default_factory=dict)
    name: str | None = None

    def __post_init__(self) -> None:
        if self.name is None:
            object.__setattr__(self, "name", self.family)

    @classmethod
    def parse(cls, data: object) -> Baseline:
        """Baseline from its study-file mapping. Raises :class:`SearchSpaceError` with relative key paths."""
        if isinstance(data, str):
            data = {"family": data}
        if not isinstance(data, Mapping):
            raise SearchSpaceError([("", f"a baseline is a mapping {{name, family, <parameters>, train}} or a "
                                         f"family name; got {data!r}")])
        problems = Problems()
        family, name, train = data.get("family"), data.get("name"), data.get("train", {})
        if not isinstance(family, str):
            problems.add("family", "required: the activation family of this baseline, e.g. family: relu"
                         if family is None else f"must be a family name; got {family!r}")
        if name is not None and not isinstance(name, str):
            problems.add("name", f"must be a string; got {name!r}")
        if train is None:
            train = {}
        if not isinstance(train, Mapping):
            problems.add("train", f"must be a mapping of training hyperparameter to value; got {train!r}")
        problems.raise_if_any()
        params = {k: v for k, v in data.items() if k not in ("family", "name", "train")}
        return cls(family, params, dict(train), name)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "family": self.family, **self.params, "train": dict(self.train)}
