"""apply_activations on torchvision models and small custom ones; parameter_groups."""

import copy
import io
import warnings

import pytest
import torch
from torch import nn
from torchvision.models import mobilenet_v3_small, resnet18

import actsearch.activations as A
from actsearch.activations import kernels


def _train_step(model, generator, size):
    optimizer = torch.optim.SGD(A.parameter_groups(model, 5e-4), lr=1e-3)
    x = torch.randn(4, 3, size, size, generator=generator)
    loss = nn.functional.cross_entropy(model(x), torch.tensor([1, 3, 5, 7]))
    loss.backward()
    activation_grads = [p.grad for m in model.modules() if A.is_activation_module(m) for p in m.parameters()]
    assert activation_grads and all(torch.isfinite(g).all() for g in activation_grads)
    optimizer.step()
    assert torch.isfinite(loss)


def _round_trip(model, build, spec, x):
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    fresh = build(num_classes=10)
    A.apply_activations(fresh, spec)
    fresh.load_state_dict(torch.load(buffer))
    torch.testing.assert_close(fresh.eval()(x), model.eval()(x))


def test_resnet18_one_instance_per_call_site_trains_saves_and_exports():
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    model = resnet18(num_classes=10)
    spec = A.ActivationSpec("anact", {"per_channel": True})
    assert A.apply_activations(model, spec) == 17  # the stem relu + two call sites in each of 8 blocks
    block = model.layer2[0]
    assert isinstance(block.relu, A.PerCallSite) and len(block.relu) == 2
    assert block.relu[0] is not block.relu[1]
    assert block.relu[0].num_channels == block.relu[1].num_channels == 128
    assert isinstance(model.relu, A.ANAct) and model.relu.num_channels == 64
    assert "layer2.0.relu.1.running_forward_gain" in model.state_dict()

    _train_step(model, generator, 32)
    first, second = block.relu
    assert first.num_batches_tracked.item() == second.num_batches_tracked.item() == 1
    assert not torch.allclose(first.running_mean, second.running_mean)

    x = torch.randn(2, 3, 32, 32, generator=generator)
    _round_trip(model, resnet18, spec, x)
    program = torch.export.export(model.eval(), (x,), strict=False)
    with kernels.disabled():  # the exported graph holds the PyTorch implementation
        expected = model(x)
    torch.testing.assert_close(program.module()(x), expected)


def test_mobilenet_v3_small_trains_saves_and_exports():
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(1)
    model = mobilenet_v3_small(num_classes=10)
    activations = [m for m in model.modules() if isinstance(m, (nn.ReLU, nn.Hardswish))]
    gates = [m for m in model.modules() if isinstance(m, nn.Hardsigmoid)]
    spec = {"family": "apalu", "params": {"per_channel": True}}
    assert A.apply_activations(model, spec) == len(activations) == 33
    assert [m for m in model.modules() if isinstance(m, nn.Hardsigmoid)] == gates
    apalus = [m for m in model.modules() if isinstance(m, A.APALU)]
    assert len(apalus) == 33
    assert all(not isinstance(p, nn.parameter.UninitializedParameter) for p in model.parameters())
    assert model.classifier[1].num_channels == model.classifier[0].out_features

    _train_step(model, generator, 16)
    x = torch.randn(2, 3, 16, 16, generator=generator)
    _round_trip(model, mobilenet_v3_small, spec, x)
    program = torch.export.export(model.eval(), (x,), strict=False)
    torch.testing.assert_close(program.module()(x), model(x))


def test_plan_rules_stateless_families_and_reapplication():
    model = resnet18(num_classes=10)
    plan = A.PlacementPlan(rules=(A.PlacementRule("layer4", A.ActivationSpec("la_silu")),))
    assert A.apply_activations(model, plan) == 4
    assert isinstance(model.layer4[1].relu, A.LayerAct)  # stateless: one instance serves both call sites
    assert type(model.layer3[1].relu) is nn.ReLU
    assert A.apply_activations(model, "prelu") == 17
    assert A.apply_activations(model, "gelu") == 17
    assert isinstance(model.layer1[0].relu, A.PerCallSite)
    assert all(isinstance(m, A.GELU) for m in model.layer1[0].relu)
    assert model(torch.randn(2, 3, 16, 16)).shape == (2, 10)


class _Twice(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 6, 1)
        self.norm = nn.GroupNorm(2, 6)
        self.act = nn.SiLU()
        self.head = nn.Linear(6, 4)

    def forward(self, x):
        x = self.act(self.norm(self.conv(x)))
        x = x.mean((2, 3))
        return self.act(self.head(x))


def test_copies_rewind_their_own_call_sites():
    model = _Twice()
    A.apply_activations(model, "anact")
    clone = copy.deepcopy(model)
    x = torch.randn(3, 2, 5, 5)
    for _ in range(2):
        torch.testing.assert_close(clone(x), model(x))
    assert [m.num_batches_tracked.item() for m in clone.act] == [2, 2]
    assert model.act.next_site == clone.act.next_site == 2


class _DataDependent(_Twice):
    def forward(self, x):
        if x.sum() > 0:  # control flow on values: not traceable
            return self.act(self.conv(x))
        return self.act(self.act(self.conv(x)))


def test_channels_per_call_site_and_untraceable_callers():
    model = _Twice()
    assert A.apply_activations(model, {"family": "apalu", "params": {"per_channel": True}}) == 2
    assert [m.num_channels for m in model.act] == [6, 4]
    assert model(torch.randn(3, 2, 5, 5)).shape == (3, 4)

    model = _DataDependent()
    with pytest.warns(UserWarning, match="could not trace"):
        assert A.apply_activations(model, "apalu") == 1
    assert isinstance(model.act, A.APALU)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert A.apply_activations(_DataDependent(), "silu") == 1  # stateless: sharing is harmless


def test_keeps_dtype_and_training_mode():
    model = nn.Sequential(nn.Linear(3, 5), nn.ReLU()).double().eval()
    assert A.apply_activations(model, "anact") == 1
    assert model[1].running_mean.dtype == torch.float64 and not model[1].training
    with pytest.raises(A.ActivationSpecError, match="the model itself is an activation module"):
        A.apply_activations(nn.ReLU(), "relu")


def test_parameter_groups_exclude_norms_biases_and_activations():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.LazyLinear(2))
    model(torch.randn(1, 3, 5, 5))
    A.apply_activations(model, {"family": "anact", "params": {"base": "apalu", "num_channels": 4}})
    decay, no_decay = A.parameter_groups(model, 1e-4)
    assert decay["weight_decay"] == 1e-4 and no_decay["weight_decay"] == 0.0
    ids = lambda params: {id(p) for p in params}  # noqa: E731
    assert ids(decay["params"]) == {id(model[0].weight), id(model[4].weight)}
    assert ids(no_decay["params"]) == ids(
        [model[0].bias, model[1].weight, model[1].bias, model[2].beta, model[2].base.a_raw, model[2].base.b_raw,
         model[4].bias]
    )
    torch.optim.SGD([decay, no_decay], lr=0.1)


class _LibraryGELU(nn.Module):
    """A library's own activation class (as timm's ``timm.layers.GELU``), unknown to apply_activations."""

    def forward(self, x):
        return nn.functional.gelu(x)


def test_extra_types_are_replaced_too():
    model = nn.Sequential(nn.Linear(3, 5), _LibraryGELU(), nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 2))
    assert A.apply_activations(model, "la_silu", extra_types=(_LibraryGELU, nn.Tanh)) == 2
    assert isinstance(model[1], A.LayerAct) and isinstance(model[3], A.LayerAct)
    with pytest.raises(A.ActivationSpecError, match="extra_types=.*allowed: a tuple of nn.Module classes"):
        A.apply_activations(model, "relu", extra_types=("Tanh",))


class _Functional(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 2)

    def forward(self, x):
        return nn.functional.relu(self.linear(x))


def test_a_placement_that_changes_nothing_warns():
    with pytest.warns(UserWarning, match="replaced nothing in Sequential: it has no activation module of a known "
                                         r"type; pass its activation classes as extra_types=\(\.\.\.\)"):
        assert A.apply_activations(nn.Sequential(nn.Linear(3, 5), nn.Tanh()), "silu") == 0
    with pytest.warns(UserWarning, match="replaced nothing in _Functional"):
        assert A.apply_activations(_Functional(), "silu") == 0
    plan = A.PlacementPlan(rules=(A.PlacementRule("nothing_here.*", A.ActivationSpec("silu")),))
    with pytest.warns(UserWarning) as caught:
        assert A.apply_activations(resnet18(num_classes=10), plan) == 0
    messages = [str(w.message) for w in caught]
    assert messages == [
        "apply_activations: placement rule 'nothing_here.*' matches no activation module of ResNet; its activation "
        "modules are named like 'relu', 'layer1.0.relu', 'layer1.1.relu'",
        "apply_activations: replaced nothing in ResNet: no activation module gets a spec from the plan",
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert A.apply_activations(resnet18(num_classes=10), {"default": {"family": "silu"}, "rules": [
            {"pattern": "layer4", "spec": {"family": "relu"}}]}) == 17
