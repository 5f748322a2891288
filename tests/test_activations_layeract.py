"""LayerAct against the official formula (forward and gradient), memory, precision and export."""

import contextlib
import math

import pytest
import torch

import actsearch.activations as A
from actsearch.activations import kernels
from actsearch.activations.layeract import layer_act


def official(y, gate, alpha=1e-5, dims=None):
    """The released LayerAct formula: per-sample mean and unbiased variance, gate of the normalised input."""
    dims = tuple(range(1, y.dim())) if dims is None else dims
    mean = y.mean(dim=dims, keepdim=True)
    var = y.var(dim=dims, keepdim=True, unbiased=True)
    n = (y - mean) / torch.sqrt(var + alpha)
    g = torch.sigmoid(n) if gate == "sigmoid" else torch.clamp(n / 6 + 0.5, 0.0, 1.0)
    return y * g


CASES = [
    ((4, 3, 5, 6), None),
    ((4, 6, 7), None),
    ((5, 9), None),
    ((4, 3, 5, 6), (-2, -1)),
    ((4, 3, 5, 6), (1,)),
    ((4, 3, 5, 6), (1, 3)),
]


@pytest.mark.parametrize("gate", ["sigmoid", "hardsigmoid"])
@pytest.mark.parametrize(("shape", "dims"), CASES)
@pytest.mark.parametrize("fused", [True, False])
def test_forward_and_gradient_match_official_formula(gate, shape, dims, fused):
    generator = torch.Generator().manual_seed(1)
    y = (torch.randn(shape, generator=generator, dtype=torch.float64) * 2 + 0.5).requires_grad_()
    grad_out = torch.randn(shape, generator=generator, dtype=torch.float64)
    expected = official(y, gate, 1e-5, dims)
    (expected_grad,) = torch.autograd.grad(expected, y, grad_out)
    got = layer_act(y, gate, 1e-5, dims, fused=fused)
    (got_grad,) = torch.autograd.grad(got, y, grad_out)
    torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(got_grad, expected_grad, rtol=1e-10, atol=1e-10)

    for native in (True, False):  # float32 on the CPU runs the C kernels unless they are disabled
        with contextlib.nullcontext() if native else kernels.disabled():
            y32 = y.detach().float().requires_grad_()
            got32 = layer_act(y32, gate, 1e-5, dims, fused=fused)
            (got32_grad,) = torch.autograd.grad(got32, y32, grad_out.float())
        torch.testing.assert_close(got32, expected.float(), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(got32_grad, expected_grad.float(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("gate", ["sigmoid", "hardsigmoid"])
def test_gradcheck_with_large_alpha_and_2d_input(gate):
    y = torch.randn(3, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: layer_act(t, gate, alpha=0.1), (y,))


def test_gradient_flows_through_mean_and_variance():
    y = torch.randn(2, 8, dtype=torch.float64, requires_grad=True)
    (full,) = torch.autograd.grad(layer_act(y).sum(), y)
    mean, var = y.mean(1, keepdim=True).detach(), y.var(1, keepdim=True).detach()
    frozen_statistics = y * torch.sigmoid((y - mean) / torch.sqrt(var + 1e-5))
    (frozen_grad,) = torch.autograd.grad(frozen_statistics.sum(), y)
    assert (full - frozen_grad).abs().max() > 1e-3


def test_module_aliases_and_training_equals_eval():
    y = torch.randn(4, 3, 5, 5)
    la_silu, la_hardsilu = A.create_activation("la_silu"), A.create_activation("la_hardsilu")
    assert (la_silu.gate, la_hardsilu.gate) == ("sigmoid", "hardsigmoid")
    assert list(la_silu.state_dict()) == []
    out_train = la_silu(y)
    torch.testing.assert_close(la_silu.eval()(y), out_train)
    la_silu.fused = False
    torch.testing.assert_close(la_silu(y), out_train)


def _input_sized_saved(gate, dtype):
    y = torch.randn(4, 8, 6, 6, dtype=dtype, requires_grad=True)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        layer_act(y, gate)
    return sum(t is not None and t.numel() == y.numel() for t in saved)


def test_saves_at_most_two_input_sized_tensors():
    # the C kernels (float32 CPU) keep the input and the sigmoid gate; the hardsigmoid gate is recomputed
    assert _input_sized_saved("sigmoid", torch.float32) == 2 and _input_sized_saved("hardsigmoid", torch.float32) == 1
    with kernels.disabled():
        assert _input_sized_saved("sigmoid", torch.float32) == 2
        assert _input_sized_saved("hardsigmoid", torch.float32) == 2
    assert _input_sized_saved("sigmoid", torch.bfloat16) == 1 and _input_sized_saved("hardsigmoid", torch.bfloat16) == 1


@pytest.mark.parametrize("gate", ["sigmoid", "hardsigmoid"])
def test_half_precision_statistics_do_not_overflow(gate):
    # values of a few hundred: their variance (~1e5) overflows float16, whose maximum is 65504
    y = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0)) * 300
    y16 = y.half().requires_grad_()
    out = layer_act(y16, gate)
    assert out.dtype == torch.float16 and torch.isfinite(out).all()
    grad_out = torch.randn_like(y) * 1e-3
    (grad,) = torch.autograd.grad(out, y16, grad_out.half())
    assert torch.isfinite(grad).all()
    y32 = y16.detach().float().requires_grad_()
    expected = official(y32, gate)
    (expected_grad,) = torch.autograd.grad(expected, y32, grad_out.half().float())
    torch.testing.assert_close(out.float(), expected, rtol=2e-3, atol=0.5)
    torch.testing.assert_close(grad.float(), expected_grad, rtol=1e-2, atol=1e-3)


def test_bfloat16_autocast_keeps_input_dtype():
    conv = torch.nn.Conv2d(3, 8, 3)
    x = torch.randn(2, 3, 8, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        h = conv(x)
        out = A.LayerAct()(h)
    assert h.dtype == out.dtype == torch.bfloat16
    torch.testing.assert_close(out.float(), official(h.float(), "sigmoid"), rtol=2e-2, atol=2e-2)
    out.float().sum().backward()
    assert torch.isfinite(conv.weight.grad).all()


def test_traces_into_one_graph_with_torch_compile():
    compiled = torch.compile(A.LayerAct(), backend="aot_eager", fullgraph=True)
    y = torch.randn(3, 4, 5, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(compiled(y).square().sum(), y)
    (expected,) = torch.autograd.grad(official(y, "sigmoid").square().sum(), y)
    torch.testing.assert_close(grad, expected)


def test_exports_inside_a_model():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), A.LayerAct(gate="hardsigmoid"))
    model.eval()
    x = torch.randn(2, 3, 8, 8)
    program = torch.export.export(model, (x,))
    torch.testing.assert_close(program.module()(x), model(x))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"gate": "tanh"}, r"gate='tanh' is not allowed; allowed: 'sigmoid', 'hardsigmoid'"),
        ({"alpha": 0}, r"alpha=0.0 is not allowed; allowed: a number > 0.0"),
        ({"dims": [0, 1]}, r"never 0 \(the batch\)"),
        ({"dims": "all"}, r"dims='all' is not allowed"),
    ],
)
def test_invalid_parameters(kwargs, message):
    with pytest.raises(A.ActivationSpecError, match=message):
        A.LayerAct(**kwargs)


def test_shape_errors():
    with pytest.raises(A.ActivationSpecError, match="does not fit an input of shape"):
        A.LayerAct(dims=(3,))(torch.randn(2, 3))
    with pytest.raises(A.ActivationSpecError, match="at least 2 elements"):
        A.LayerAct()(torch.randn(2, 1))
    assert math.isfinite(A.LayerAct()(torch.ones(2, 4)).sum().item())
