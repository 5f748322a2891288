"""Swap the activation modules of an arbitrary model in place.

``apply_activations(model, spec_or_plan)`` replaces every ``nn.ReLU``, ``ReLU6``, ``LeakyReLU``, ``PReLU``,
``ELU``, ``SELU``, ``SiLU``, ``Hardswish``, ``GELU``, ``Mish``, module of a registered family, and module of
the given ``extra_types`` (e.g. timm's own ``GELU`` class) whose qualified name (as in ``model.named_modules()``)
gets a spec from the plan. Gates such as ``nn.Sigmoid`` and ``nn.Hardsigmoid`` are left alone, and so are
functional calls (``F.relu``). A placement that changes nothing, or a rule whose pattern names no activation
module, is most likely a mistake: it warns.

One module can be called at several places of its caller's forward (torchvision's ``BasicBlock`` calls
``self.relu`` twice). Each caller is traced once with ``torch.fx``, every submodule a leaf, to count those
call sites. A stateful family (parameters or buffers: prelu, apalu, anact) then gets one instance per call
site, held in a :class:`PerCallSite` list that the caller's forward pre-hook rewinds, so the i-th call of a
forward goes to instance i and the state dict lists every instance from the start. If a caller cannot be
traced (e.g. control flow on tensor values), the module counts as a single call site and gets a single
instance; for a stateful family a warning says so.

Per-channel families get ``num_channels`` from the layer feeding the call site in the traced graph
(Conv/BatchNorm/GroupNorm/Linear, looking through additions, dropout and activations), or else from the
nearest such layer before the activation in module order; failing both, they size themselves on the first
forward call (see ``actsearch.activations._channels``).

Example::

    from torchvision.models import resnet18
    from actsearch.activations import PlacementPlan, apply_activations

    model = resnet18()
    apply_activations(model, "anact")                           # 17 call sites, ANAct everywhere
    plan = PlacementPlan.parse({"default": {"family": "relu"},
                                "rules": [{"pattern": "layer4", "spec": "la_silu"}]})
    apply_activations(model, plan)

    tanh_mlp = nn.Sequential(nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 2))
    apply_activations(tanh_mlp, "la_silu", extra_types=(nn.Tanh,))  # or timm's GELU: (timm.layers.GELU,)
"""

from __future__ import annotations

import itertools
import operator
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.fx
from torch import nn

from actsearch.activations.registry import ActivationSpecError, activation_parameters, is_activation_module
from actsearch.activations.spec import ActivationSpec, PlacementPlan

__all__ = ["PerCallSite", "apply_activations"]

_CHANNEL_PRESERVING_FUNCTIONS = {
    operator.add, operator.iadd, operator.sub, operator.isub, operator.mul, operator.imul,
    torch.add, torch.sub, torch.mul, torch.relu, torch.sigmoid,
    "add", "add_", "sub", "sub_", "mul", "mul_", "relu", "relu_", "contiguous", "clone",
}
_PASS_THROUGH_MODULES = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.Identity)


class PerCallSite(nn.ModuleList):
    """Activation instances for a module called at several places of its caller's forward.

    The i-th call since the caller's forward began goes to instance i (the caller's forward pre-hook calls
    :meth:`rewind`); calls beyond the count wrap around.
    """

    def __init__(self, modules):
        super().__init__(modules)
        self.next_site = 0

    def rewind(self, *_: Any) -> None:
        self.next_site = 0

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        module = self[self.next_site % len(self)]
        self.next_site += 1
        return module(*args, **kwargs)


@dataclass
class _Target:
    name: str
    parent: nn.Module
    attribute: str
    module: nn.Module
    caller_name: str
    caller: nn.Module


class _LeafTracer(torch.fx.Tracer):
    """Traces one module's own forward; every submodule call becomes a node."""

    def is_leaf_module(self, module: nn.Module, qualified_name: str) -> bool:
        return True


def _has_own_forward(module: nn.Module) -> bool:
    return type(module).forward is not nn.Module.forward


def _find_targets(model: nn.Module, extra_types: tuple[type, ...]) -> list[_Target]:
    targets = []

    def walk(module: nn.Module, prefix: str, caller_name: str, caller: nn.Module) -> None:
        if _has_own_forward(module):
            caller_name, caller = prefix, module
        for attribute, child in module.named_children():
            name = f"{prefix}.{attribute}" if prefix else attribute
            if isinstance(child, (PerCallSite, *extra_types)) or is_activation_module(child):
                targets.append(_Target(name, module, attribute, child, caller_name, caller))
            else:
                walk(child, name, caller_name, caller)

    walk(model, "", "", model)
    return targets


def _channels_produced(module: nn.Module) -> int | None:
    if isinstance(module, nn.modules.conv._ConvNd):
        return module.out_channels
    if isinstance(module, nn.modules.batchnorm._NormBase):
        return module.num_features
    if isinstance(module, nn.GroupNorm):
        return module.num_channels
    if isinstance(module, nn.Linear):
        return module.out_features
    return None


def _channels_from_node(node: Any, caller: nn.Module, depth: int = 0) -> int | None:
    if not isinstance(node, torch.fx.Node) or depth > 32:
        return None
    if node.op == "call_module":
        module = caller.get_submodule(node.target)
        channels = _channels_produced(module)
        if channels is not None:
            return channels
        if not (isinstance(module, (PerCallSite, *_PASS_THROUGH_MODULES)) or is_activation_module(module)):
            return None
    elif not (node.op in ("call_function", "call_method") and node.target in _CHANNEL_PRESERVING_FUNCTIONS):
        return None
    for argument in node.args:
        channels = _channels_from_node(argument, caller, depth + 1)
        if channels is not None:
            return channels
    return None


def _call_sites(caller: nn.Module) -> dict[str, list[torch.fx.Node]]:
    """Relative module name -> the input node of each call in ``caller``'s forward."""
    graph = _LeafTracer().trace(caller)
    sites: dict[str, list[torch.fx.Node]] = {}
    for node in graph.nodes:
        if node.op == "call_module":
            sites.setdefault(node.target, []).append(node.args[0] if node.args else None)
    return sites


def _channels_by_module_order(model: nn.Module) -> dict[str, int | None]:
    """Module name -> channels of the last Conv/BatchNorm/GroupNorm/Linear before it in module order."""
    channels, result = None, {}
    for name, module in model.named_modules():
        result[name] = channels
        channels = _channels_produced(module) or channels
    return result


def _device_and_dtype(*modules: nn.Module) -> tuple[torch.device | None, torch.dtype | None]:
    for tensor in itertools.chain.from_iterable(
        itertools.chain(module.parameters(), module.buffers()) for module in modules
    ):
        if tensor.is_floating_point() and not isinstance(tensor, nn.parameter.UninitializedTensorMixin):
            return tensor.device, tensor.dtype
    return None, None


def _build(spec: ActivationSpec, channels: int | None, like: nn.Module, device, dtype) -> nn.Module:
    accepts_channels = "num_channels" in activation_parameters(spec.family) and "num_channels" not in spec.params
    if channels is not None and accepts_channels:
        spec = spec.with_params(num_channels=channels)
    module = spec.build()
    if device is not None and (device.type != "cpu" or dtype != torch.get_default_dtype()):
        module.to(device=device, dtype=dtype)
    return module.train(like.training)


def _is_stateful(module: nn.Module) -> bool:
    return any(True for _ in itertools.chain(module.parameters(), module.buffers()))


def _replace(target: _Target, spec: ActivationSpec, inputs: list, channels: list, traced: bool, device, dtype) -> int:
    """Put instances of ``spec`` at ``target``'s call sites; returns the number of call sites."""

    def build(site: int) -> nn.Module:
        return _build(spec, channels[site] if site < len(channels) else channels[0], target.module, device, dtype)

    if isinstance(target.module, PerCallSite):  # applied before: keep one instance per call site
        for site in range(len(target.module)):
            target.module[site] = build(site)
        return len(target.module)
    first = build(0)
    if len(inputs) > 1 and _is_stateful(first):
        dispatch = PerCallSite([first] + [build(site) for site in range(1, len(inputs))])
        dispatch.train(target.module.training)
        target.caller.register_forward_pre_hook(dispatch.rewind)
        setattr(target.parent, target.attribute, dispatch)
        return len(inputs)
    if not traced and _is_stateful(first):
        warnings.warn(
            f"apply_activations: could not trace the forward of {target.caller_name or 'the model'!r}; "
            f"{target.name!r} gets one {spec.family} instance, shared by all its call sites",
            stacklevel=3,
        )
    setattr(target.parent, target.attribute, first)
    return len(inputs)


def apply_activations(
    model: nn.Module,
    spec_or_plan: PlacementPlan | ActivationSpec | str | Mapping[str, Any],
    *,
    extra_types: tuple[type[nn.Module], ...] = (),
) -> int:
    """Replace the model's activation modules in place as the plan says; returns the number of call sites changed.

    ``spec_or_plan`` is anything :meth:`PlacementPlan.parse` accepts: a plan, a spec, a family or alias name,
    or a mapping of a plan or a spec. ``extra_types`` are further module classes to treat as activations
    (a library's own ``GELU``, ``nn.Tanh``). A module whose name gets no spec from the plan is left as it is;
    one that its caller never calls is replaced too but counts no call site. Warns when no module was
    replaced, and for each rule whose pattern names no activation module.
    """
    plan = PlacementPlan.parse(spec_or_plan)
    extra_types = tuple(extra_types)
    if not all(isinstance(kind, type) and issubclass(kind, nn.Module) for kind in extra_types):
        raise ActivationSpecError(
            f"apply_activations: extra_types={extra_types!r} is not allowed; allowed: a tuple of nn.Module classes"
        )
    if is_activation_module(model) or isinstance(model, (PerCallSite, *extra_types)):
        raise ActivationSpecError(
            "apply_activations: the model itself is an activation module; allowed: a model containing activations"
        )
    targets = _find_targets(model, extra_types)
    _warn_about_unused_placement(model, plan, targets)
    order_channels = _channels_by_module_order(model) if targets else {}
    device, dtype = _device_and_dtype(model)
    call_sites: dict[int, dict[str, list[torch.fx.Node]] | None] = {}
    changed = 0
    for target in targets:
        spec = plan.spec_for(target.name)
        if spec is None:
            continue
        if id(target.caller) not in call_sites:
            try:
                call_sites[id(target.caller)] = _call_sites(target.caller)
            except Exception:  # noqa: BLE001 - whatever stops the trace, the count is unknown
                call_sites[id(target.caller)] = None
        sites = call_sites[id(target.caller)]
        fallback = order_channels.get(target.name)
        if sites is None:
            inputs = [None]
        else:
            relative = target.name[len(target.caller_name) + 1:] if target.caller_name else target.name
            inputs = sites.get(relative, [])
        channels = [_channels_from_node(node, target.caller) or fallback for node in inputs] or [fallback]
        changed += _replace(target, spec, inputs, channels, sites is not None, device, dtype)
    return changed


def _warn_about_unused_placement(model: nn.Module, plan: PlacementPlan, targets: list[_Target]) -> None:
    names = [target.name for target in targets]
    for rule in plan.rules:
        if not any(rule.matches(name) for name in names):
            shown = f"; its activation modules are named like {', '.join(repr(n) for n in names[:3])}" if names else ""
            warnings.warn(
                f"apply_activations: placement rule {rule.pattern!r} matches no activation module of "
                f"{type(model).__name__}{shown}",
                stacklevel=3,
            )
    if not any(plan.spec_for(name) is not None for name in names):
        warnings.warn(
            f"apply_activations: replaced nothing in {type(model).__name__}: "
            + ("no activation module gets a spec from the plan" if names else
               "it has no activation module of a known type; pass its activation classes as extra_types=(...) "
               "(functional calls such as F.relu cannot be replaced)"),
            stacklevel=3,
        )
