"""Where the searched activations go: one for the whole network, one per stage, or one per module pattern.

Each placement has *slots*; every slot gets its own activation, suggested under the slot's name:
``act`` for the global placement, the stage names (``stage2``) per stage, and for patterns a name made
from the pattern (``layer2.*`` -> ``layer2_x``) or given explicitly.

Example:
    >>> placement = Placement.parse("per_stage", stages=["stem", "stage1", "stage2"])
    >>> [slot.name for slot in placement.slots]
    ['stem', 'stage1', 'stage2']
    >>> Placement.parse({"patterns": ["layer2.*"], "others": "keep"}).slots
    (Slot(name='layer2_x', pattern='layer2.*'),)
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from actsearch.activations import ActivationSpec, PlacementPlan, PlacementRule
from actsearch.spaces.errors import Problems, SearchSpaceError, join_path, unknown_name

__all__ = ["GLOBAL_SLOT", "Placement", "Slot", "slot_name"]

GLOBAL_SLOT = "act"
"""Slot of the activation used wherever no other slot applies."""
RESERVED_SLOTS = ("train",)
MODES = ("global", "per_stage")
PATTERN_KEYS = ("patterns", "others")
OTHERS = ("search", "keep")
_SLOT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def slot_name(pattern: str) -> str:
    """Parameter-name-safe slot name for a module pattern: ``"layer2.*"`` -> ``"layer2_x"``."""
    return re.sub(r"[^A-Za-z0-9]+", "_", pattern.replace("*", "x").replace("?", "q")).strip("_")


@dataclass(frozen=True)
class Slot:
    """A searched activation: used for modules matching ``pattern``, or everywhere else when it is None."""

    name: str
    pattern: str | None


@dataclass(frozen=True)
class Placement:
    """The slots of a space and how their activations become a :class:`PlacementPlan`."""

    mode: str
    slots: tuple[Slot, ...]

    @classmethod
    def parse(cls, data: object, stages: Sequence[str] = ()) -> Placement:
        """Placement as written in a study file: ``global`` (default), ``per_stage`` (one slot per stage in
        ``stages``), or ``{patterns: [...] | {slot: pattern}, others: search | keep}``.

        ``others: search`` (default) adds the global ``act`` slot for modules no pattern matches;
        ``keep`` leaves them as the network defines them. Raises :class:`SearchSpaceError`.
        """
        if data is None or data == "global":
            return cls("global", (Slot(GLOBAL_SLOT, None),))
        if data == "per_stage":
            if not stages:
                raise SearchSpaceError([("", "per_stage placement needs the network's stage names")])
            return cls("per_stage", _checked_slots([(slot_name(stage), stage) for stage in stages], ""))
        if isinstance(data, Mapping):
            return cls._parse_patterns(data)
        raise SearchSpaceError([("", unknown_name("placement", data, MODES) + "; or a mapping {patterns: [...]}")])

    @classmethod
    def _parse_patterns(cls, data: Mapping) -> Placement:
        problems = Problems()
        for key in data:
            if key not in PATTERN_KEYS:
                problems.add(str(key), unknown_name("key", key, PATTERN_KEYS))
        others = data.get("others", "search")
        if others not in OTHERS:
            problems.add("others", unknown_name("value", others, OTHERS))
        patterns = data.get("patterns")
        if isinstance(patterns, Mapping):
            named = [(str(name), pattern) for name, pattern in patterns.items()]
            for name, _ in named:
                if not _SLOT_NAME.match(name):
                    problems.add(join_path("patterns", name), "a slot name is a letter followed by letters, "
                                                              "digits or underscores")
        elif isinstance(patterns, list):
            named = [(slot_name(p) if isinstance(p, str) else "", p) for p in patterns]
        else:
            problems.add("patterns", "give a list of module-name patterns (e.g. [stage1, 'layer2.*']) or a "
                                     f"mapping slot name -> pattern; got {patterns!r}")
            named = []
        if isinstance(patterns, (list, Mapping)) and not patterns:
            problems.add("patterns", "at least one pattern is needed")
        for index, (name, pattern) in enumerate(named):
            if not isinstance(pattern, str) or not slot_name(pattern):
                key = index if isinstance(patterns, list) else name
                problems.add(join_path("patterns", key), f"a pattern must be a module name or glob; got {pattern!r}")
        problems.raise_if_any()
        slots = _checked_slots(named, "patterns")
        if others == "search":
            slots = _checked_slots([(s.name, s.pattern) for s in slots] + [(GLOBAL_SLOT, None)], "patterns")
        return cls("patterns", slots)

    def plan(self, specs: Mapping[str, ActivationSpec]) -> PlacementPlan:
        """Placement plan giving each slot's modules the spec ``specs[slot.name]``."""
        rules = tuple(PlacementRule(slot.pattern, specs[slot.name]) for slot in self.slots if slot.pattern is not None)
        default = next((specs[slot.name] for slot in self.slots if slot.pattern is None), None)
        return PlacementPlan(default=default, rules=rules)


def _checked_slots(named: list[tuple[str, str | None]], path: str) -> tuple[Slot, ...]:
    problems = Problems()
    seen: dict[str, str | None] = {}
    for name, pattern in named:
        if name in RESERVED_SLOTS:
            problems.add(path, f"slot name {name!r} is reserved for training hyperparameters; name the slot otherwise")
        elif name in seen and pattern is None:
            problems.add(path, f"pattern {seen[name]!r} makes the slot name {name!r}, which `others: search` uses "
                               "for the remaining modules; give explicit names with a mapping {slot: pattern}")
        elif name in seen:
            problems.add(path, f"patterns {seen[name]!r} and {pattern!r} both make the slot name {name!r}; "
                               "give explicit names with a mapping {slot: pattern}")
        seen[name] = pattern
    problems.raise_if_any()
    return tuple(Slot(name, pattern) for name, pattern in named)
