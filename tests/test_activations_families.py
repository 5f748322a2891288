"""Every family: float64 gradcheck (inputs and parameters), classic formulas, per-channel and lazy parameters."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import actsearch.activations as A

SPECS = [
    ("relu", {}),
    ("leaky_relu", {"negative_slope": 0.2}),
    ("prelu", {}),
    ("prelu", {"per_channel": True, "num_channels": 3}),
    ("elu", {"alpha": 0.7}),
    ("selu", {}),
    ("silu", {}),
    ("hardsilu", {}),
    ("gelu", {}),
    ("gelu", {"approximate": "tanh"}),
    ("mish", {}),
    ("la_silu", {}),
    ("la_hardsilu", {}),
    ("layeract", {"dims": [-1]}),
    ("apalu", {"per_channel": False}),
    ("apalu", {"per_channel": True, "num_channels": 3}),
    ("anact", {}),
    ("anact", {"base": "relu", "per_channel": True, "num_channels": 3}),
    ("anact", {"base": "la_hardsilu", "subtract_mean": False}),
    ("anact", {"base": "prelu", "base_params": {"per_channel": True}, "num_channels": 3}),
]


def _away_from_kinks(shape, generator):
    # finite differences must not straddle the kinks at 0 (relu, prelu, apalu) or +-3 (hardsigmoid)
    x = torch.randn(shape, generator=generator, dtype=torch.float64) * 2
    return x + 0.05 * torch.sign(x)


@pytest.mark.parametrize(("name", "params"), SPECS, ids=[f"{n}-{p}" for n, p in SPECS])
def test_gradcheck_float64_inputs_and_parameters(name, params):
    generator = torch.Generator().manual_seed(0)
    module = A.create_activation(name, **params).double()
    x = _away_from_kinks((4, 3, 5), generator)
    if name == "anact":
        module(x)  # one training batch sets the running statistics; they carry no gradient by design
        module.eval()
    for p in module.parameters():
        p.data.add_(0.3 * torch.rand(p.shape, generator=generator, dtype=torch.float64))
    names = [n for n, _ in module.named_parameters()]
    values = [p.detach().clone().requires_grad_() for _, p in module.named_parameters()]

    def call(x, *parameters):
        return torch.func.functional_call(module, dict(zip(names, parameters)), (x,))

    assert torch.autograd.gradcheck(call, (x.requires_grad_(), *values))


@pytest.mark.parametrize(
    ("name", "params", "reference"),
    [
        ("relu", {}, F.relu),
        ("leaky_relu", {}, lambda x: F.leaky_relu(x, 0.01)),
        ("elu", {}, F.elu),
        ("selu", {}, F.selu),
        ("silu", {}, lambda x: x * torch.sigmoid(x)),
        ("hardsilu", {}, lambda x: x * torch.clamp(x / 6 + 0.5, 0, 1)),
        ("gelu", {}, lambda x: x * 0.5 * (1 + torch.erf(x / 2**0.5))),
        ("gelu", {"approximate": "tanh"}, lambda x: F.gelu(x, approximate="tanh")),
        ("mish", {}, lambda x: x * torch.tanh(F.softplus(x))),
        ("prelu", {}, lambda x: torch.where(x >= 0, x, 0.25 * x)),
    ],
)
def test_classic_formulas(name, params, reference):
    x = torch.linspace(-6, 6, 301)
    torch.testing.assert_close(A.create_activation(name, **params)(x.view(1, -1)), reference(x).view(1, -1))


def _with_parameters(module, *values):
    with torch.no_grad():
        for parameter, value in zip(module.parameters(), values):
            parameter.copy_(torch.as_tensor(value).expand_as(parameter))
    return module


@pytest.mark.parametrize(
    "module",
    [
        A.ReLU(), A.LeakyReLU(0.2), A.ELU(0.7), A.SELU(), A.SiLU(), A.HardSiLU(), A.GELU(), A.GELU("tanh"), A.Mish(),
        _with_parameters(A.PReLU(init=0.3)),
        _with_parameters(A.PReLU(per_channel=True, num_channels=40), torch.linspace(-0.5, 0.5, 40)),
        _with_parameters(A.APALU(per_channel=False), -0.7, 0.4),
        _with_parameters(A.APALU(per_channel=True, num_channels=40), torch.linspace(-1, 1, 40), torch.linspace(1, -1, 40)),
    ],
    ids=repr,
)
def test_input_gradient_is_the_vector_jacobian_product(module):
    x = _away_from_kinks((3, 40), torch.Generator().manual_seed(2)).requires_grad_()
    grad = torch.randn(3, 40, dtype=torch.float64)
    (expected,) = torch.autograd.grad(module(x), x, grad)
    torch.testing.assert_close(module.input_gradient(grad, x.detach()), expected)


def test_classic_families_are_torch_modules_and_never_in_place():
    assert isinstance(A.create_activation("relu"), nn.ReLU)
    assert isinstance(A.create_activation("hardsilu"), nn.Hardswish)
    assert not A.create_activation("relu").inplace
    x = torch.randn(3, 4)
    before = x.clone()
    for name in A.list_activations():
        A.create_activation(name)(x)
    torch.testing.assert_close(x, before)


def test_prelu_per_channel_slopes():
    prelu = A.PReLU(per_channel=True, num_channels=2, init=0.1)
    with torch.no_grad():
        prelu.weight.copy_(torch.tensor([0.1, 0.5]))
    y = prelu(-torch.ones(1, 2, 3))
    torch.testing.assert_close(y[0, :, 0], torch.tensor([-0.1, -0.5]))


@pytest.mark.parametrize("name", ["prelu", "apalu", "anact"])
def test_lazy_per_channel_materialises_on_first_call_and_from_state_dict(name):
    module = A.create_activation(name, per_channel=True)
    assert any(isinstance(p, nn.parameter.UninitializedParameter) for p in module.parameters())
    module(torch.randn(2, 5, 3))
    shapes = {n: tuple(t.shape) for n, t in module.state_dict().items() if t.dim() > 0}
    assert shapes and all(shape == (5,) for shape in shapes.values())
    fresh = A.create_activation(name, per_channel=True)
    fresh.load_state_dict(module.state_dict())
    assert all(not isinstance(p, nn.parameter.UninitializedParameter) for p in fresh.parameters())


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("gelu", {"approximate": "erf"}, r"gelu: approximate='erf' is not allowed; allowed: 'none', 'tanh'"),
        ("elu", {"alpha": -1}, r"elu: alpha=-1.0 is not allowed; allowed: a number > 0.0"),
        ("prelu", {"num_channels": 0}, r"num_channels=0 is not allowed; allowed: a positive integer"),
        ("apalu", {"per_channel": "yes"}, r"apalu: per_channel='yes' is not allowed; allowed: true or false"),
    ],
)
def test_invalid_values_name_what_is_allowed(name, params, message):
    with pytest.raises(A.ActivationSpecError, match=message):
        A.create_activation(name, **params)
