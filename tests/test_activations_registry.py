"""Registry: decorator registration, aliases, lookups and their error messages."""

import pytest
import torch
from torch import nn

import actsearch.activations as A
from actsearch.activations import registry
from actsearch.errors import ConfigError


@pytest.fixture
def clean_registry(monkeypatch):
    monkeypatch.setattr(registry, "_FAMILIES", dict(registry._FAMILIES))
    monkeypatch.setattr(registry, "_ALIASES", dict(registry._ALIASES))


def test_builtin_families_and_aliases():
    assert A.list_activations() == [
        "anact", "apalu", "elu", "gelu", "hardsilu", "layeract", "leaky_relu", "mish", "prelu", "relu", "selu", "silu",
    ]
    assert set(A.list_activations(include_aliases=True)) - set(A.list_activations()) == {"la_silu", "la_hardsilu"}


def test_get_activation_by_name_alias_and_class():
    assert A.get_activation("layeract") is A.LayerAct
    la_silu = A.get_activation("LA_SILU")
    assert la_silu.func is A.LayerAct and la_silu.keywords == {"gate": "sigmoid"}
    assert A.get_activation(A.APALU) is A.APALU
    assert A.get_activation(nn.Hardswish) is A.HardSiLU
    with pytest.raises(A.ActivationSpecError, match="unknown activation family 'ReLU6'"):
        A.get_activation(nn.ReLU6)


def test_alias_keeps_its_presets():
    module = A.get_activation("la_hardsilu")()
    assert isinstance(module, A.LayerAct) and module.gate == "hardsigmoid"
    assert A.get_activation("la_hardsilu")(alpha=0.01).alpha == 0.01


@pytest.mark.parametrize("name", A.list_activations(include_aliases=True))
def test_every_family_accepts_and_ignores_inplace(name):
    x = torch.linspace(-3, 3, 2 * 4 * 3 * 3).reshape(2, 4, 3, 3)
    built = A.get_activation(name)
    torch.manual_seed(0)
    plain = built()
    torch.manual_seed(0)
    with_inplace = built(inplace=True)
    assert "inplace" not in A.activation_parameters(name)
    before = x.clone()
    torch.testing.assert_close(with_inplace(x), plain(x))
    torch.testing.assert_close(x, before)  # accepted, ignored: the input is untouched


def test_torchvision_conv_norm_activation_builds_a_family():
    from torchvision.ops import Conv2dNormActivation

    block = Conv2dNormActivation(3, 8, activation_layer=A.get_activation("la_hardsilu"), inplace=True)
    assert isinstance(block[-1], A.LayerAct) and block[-1].gate == "hardsigmoid"
    assert block(torch.randn(2, 3, 8, 8)).shape == (2, 8, 8, 8)


@pytest.mark.parametrize("name", ["la_hardsilu", "anact", "apalu"])
def test_timm_builds_a_model_with_a_family_as_act_layer(name):
    timm = pytest.importorskip("timm", reason="the timm builder check needs the timm package")
    model = timm.create_model("resnet10t", pretrained=False, num_classes=3, act_layer=A.get_activation(name))
    family = registry.resolve_activation(name)[0]
    assert not any(isinstance(module, torch.nn.ReLU) for module in model.modules())
    assert sum(A.family_name(module) == family for module in model.modules()) >= 4
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 3)


def test_custom_family_accepts_inplace(clean_registry):
    @A.register_activation("square_relu")
    class SquareReLU(nn.Module):
        def forward(self, x):
            return torch.relu(x) ** 2

    assert isinstance(SquareReLU(inplace=True), SquareReLU)
    assert A.activation_parameters("square_relu") == {}


def test_unknown_family_message_lists_allowed_and_suggests():
    with pytest.raises(ConfigError) as info:
        A.get_activation("relux")
    message = str(info.value)
    assert "unknown activation family 'relux'" in message
    assert "allowed: anact, apalu, elu" in message and "la_silu" in message
    assert "did you mean 'relu'?" in message


def test_activation_parameters_apply_alias_presets():
    assert A.activation_parameters("layeract") == {"gate": "sigmoid", "alpha": 1e-5, "dims": None}
    assert A.activation_parameters("la_hardsilu")["gate"] == "hardsigmoid"
    assert A.activation_parameters("leaky_relu") == {"negative_slope": 0.01}
    assert A.activation_parameters("prelu") == {"per_channel": False, "num_channels": None, "init": 0.25}


def test_register_custom_family_with_alias(clean_registry):
    @A.register_activation(aliases={"square_plus_wide": {"b": 16.0}})
    class SquarePlus(nn.Module):
        def __init__(self, b: float = 4.0):
            super().__init__()
            self.b = b

        def forward(self, x):
            return 0.5 * (x + torch.sqrt(x * x + self.b))

    assert "square_plus" in A.list_activations()
    module = A.create_activation("square_plus_wide")
    assert isinstance(module, SquarePlus) and module.b == 16.0
    assert A.family_name(module) == "square_plus"
    assert A.is_activation_module(module)
    assert A.ActivationSpec("square_plus_wide").to_dict() == {"family": "square_plus", "params": {"b": 16.0}}


def test_registration_errors(clean_registry):
    class Other(nn.Module):
        def __init__(self, k: float = 1.0):
            super().__init__()

    with pytest.raises(A.ActivationSpecError, match="already registered"):
        A.register_activation("relu")(Other)
    with pytest.raises(A.ActivationSpecError, match="lowercase"):
        A.register_activation("Bad-Name")(Other)
    with pytest.raises(A.ActivationSpecError, match=r"presets unknown parameters \['q'\]"):
        A.register_activation("other", aliases={"other_q": {"q": 1}})(Other)

    class NoDefault(nn.Module):
        def __init__(self, k):
            super().__init__()

    with pytest.raises(TypeError, match="keyword parameter with a default"):
        A.register_activation("no_default")(NoDefault)


def test_is_activation_module_leaves_gates_alone():
    assert A.is_activation_module(nn.ReLU6())
    assert A.is_activation_module(A.ANAct())
    assert not A.is_activation_module(nn.Hardsigmoid())
    assert not A.is_activation_module(nn.Sigmoid())
