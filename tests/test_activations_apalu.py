"""APALU: formula, positivity of a and b, continuity and one-sided slopes at 0."""

import pytest
import torch

import actsearch.activations as A


def reference(x, a, b):
    return torch.where(x >= 0, a * (x + x * torch.sigmoid(1.702 * x)), b * (torch.exp(x) - 1))


def test_initial_values_and_formula():
    act = A.APALU(per_channel=False)
    torch.testing.assert_close(act.a, torch.full((1,), 0.5))  # the measured default: smooth at 0, ReLU's gain
    torch.testing.assert_close(act.b, torch.full((1,), 0.75))
    with torch.no_grad():
        act.a_raw.fill_(0.3)
        act.b_raw.fill_(-0.4)
    x = torch.linspace(-8, 8, 401, dtype=torch.float64).view(1, -1)
    torch.testing.assert_close(act.double()(x), reference(x, act.a, act.b))


def test_per_channel_parameters():
    act = A.APALU(per_channel=True, num_channels=3)
    with torch.no_grad():
        act.a_raw.copy_(torch.tensor([0.0, 1.0, 2.0]))
        act.b_raw.copy_(torch.tensor([2.0, 1.0, 0.0]))
    x = torch.randn(2, 3, 4, 4)
    expected = reference(x, act.a.view(1, 3, 1, 1), act.b.view(1, 3, 1, 1))
    torch.testing.assert_close(act(x), expected)


def test_parameters_stay_positive_when_the_optimizer_pushes_them_negative():
    act = A.APALU(per_channel=True, num_channels=4)
    optimizer = torch.optim.SGD(act.parameters(), lr=1.0)
    x = torch.randn(8, 4, 5, generator=torch.Generator().manual_seed(0))
    for _ in range(3):
        optimizer.zero_grad()
        # f grows with a on x > 0 and shrinks with b on x < 0: this loss pushes both towards -infinity
        (act(x.abs()).sum() + act(-x.abs()).neg().sum()).backward()
        optimizer.step()
    # steps this large would have made plain a and b parameters (init 1) negative
    assert (act.a_raw < -5).all() and (act.b_raw < -5).all()
    assert (act.a > 0).all() and (act.b > 0).all()


@pytest.mark.parametrize(("a_raw", "b_raw"), [(0.5413248546129181, 0.5413248546129181), (1.3, -0.7)])
def test_continuous_at_zero_with_one_sided_slopes(a_raw, b_raw):
    act = A.APALU(per_channel=False).double()
    with torch.no_grad():
        act.a_raw.fill_(a_raw)
        act.b_raw.fill_(b_raw)
    a, b = act.a.item(), act.b.item()
    h = 1e-7
    values = act(torch.tensor([[-h, 0.0, h]], dtype=torch.float64))[0]
    assert values[1].item() == 0.0
    assert abs(values[2].item() - values[1].item()) < 1e-6 and abs(values[0].item()) < 1e-6
    assert (values[2] - values[1]).item() / h == pytest.approx(1.5 * a, rel=1e-5)
    assert (values[1] - values[0]).item() / h == pytest.approx(b, rel=1e-5)
    x = torch.tensor([[0.0]], dtype=torch.float64, requires_grad=True)
    (slope,) = torch.autograd.grad(act(x).sum(), x)
    assert slope.item() == pytest.approx(1.5 * a)  # f(x) for x >= 0 is the a-branch


def test_no_overflow_for_large_inputs():
    x = torch.tensor([[-1e4, -100.0, 100.0, 1e4]], requires_grad=True)
    out = A.APALU(per_channel=False)(x)
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("positivity", ["softplus", "clamp"])
def test_init_and_positivity_options(positivity):
    act = A.APALU(per_channel=True, num_channels=3, init_a=1.0, init_b=1.5, positivity=positivity)
    torch.testing.assert_close(act.a, torch.ones(3))
    torch.testing.assert_close(act.b, torch.full((3,), 1.5))
    with torch.no_grad():
        act.a_raw.fill_(-5.0)
    assert (act.a > 0).all()  # softplus stays positive; the clamp stops at its floor
    if positivity == "clamp":
        torch.testing.assert_close(act.a, torch.full((3,), 0.01))
    x = torch.linspace(-4, 4, 24).view(2, 3, 4)
    torch.testing.assert_close(act(x), reference(x, act.a.view(1, 3, 1), act.b.view(1, 3, 1)))
    with pytest.raises(A.ActivationSpecError, match="positivity='abs' is not allowed; allowed: 'softplus', 'clamp'"):
        A.APALU(positivity="abs")
    with pytest.raises(A.ActivationSpecError, match="init_b=-1.0 is not allowed"):
        A.APALU(init_b=-1.0)
