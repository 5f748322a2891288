"""Names a user recognises for a configuration: ``la_hardsilu`` rather than ``layeract``, ``anact(silu)``.

A placement plan stores canonical families with their parameters (the alias ``la_hardsilu`` becomes
``layeract`` with ``gate="hardsigmoid"``); reports and progress lines name them back: the registered alias
whose presets match, ANAct with its base, else the family.

Example:
    >>> spec_label({"family": "layeract", "params": {"gate": "hardsigmoid", "alpha": 1e-5}})
    'la_hardsilu'
    >>> spec_label({"family": "anact", "params": {"base": "relu"}}), spec_label({"family": "relu", "params": {}})
    ('anact(relu)', 'relu')
    >>> config_labels({"plan": {"default": {"family": "layeract", "params": {}}, "rules": []}})
    ['la_silu']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from actsearch.activations import activation_parameters, list_activations
from actsearch.activations.registry import ActivationSpecError, resolve_activation

__all__ = ["config_labels", "spec_label"]


def spec_label(spec: Mapping[str, Any]) -> str:
    """The label of one ``ActivationSpec.to_dict()``."""
    family = str(spec.get("family"))
    params = dict(spec.get("params") or {})
    if family == "anact":
        return f"anact({params.get('base', activation_parameters('anact')['base'])})"
    try:
        effective = {**activation_parameters(family), **params}
    except ActivationSpecError:  # a family this process does not know (registered by a plugin elsewhere)
        return family
    for alias in sorted(set(list_activations(include_aliases=True)) - set(list_activations())):
        aliased, presets = resolve_activation(alias)
        if aliased == family and all(effective.get(key) == value for key, value in presets.items()):
            return alias
    return family


def config_labels(config: Mapping[str, Any]) -> list[str]:
    """Sorted labels of every activation a ``TrialConfig.to_dict()`` places."""
    plan = config.get("plan") or {}
    specs = [rule.get("spec") or {} for rule in plan.get("rules") or ()]
    if plan.get("default"):
        specs.append(plan["default"])
    return sorted({spec_label(spec) for spec in specs})
