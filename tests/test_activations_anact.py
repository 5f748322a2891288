"""ANAct: gains on Gaussian input, running statistics, options, state dict."""

import contextlib
import copy
import math

import pytest
import torch

import actsearch.activations as A
from actsearch.activations import kernels


def _train(module, batches=4, shape=(128, 16, 8, 8), seed=0):
    generator = torch.Generator().manual_seed(seed)
    for _ in range(batches):
        module(torch.randn(shape, generator=generator))
    return module


# lambda for x ~ N(0, 1): the default reading 1/sqrt(Var(f(x))) (Var(relu) = 1/2 - 1/(2 pi), Var(silu) by
# quadrature: 0.35578 - 0.20662^2); the first reading ("mixed" moments, "rms" gain) sqrt(2) and 1.650.
READINGS = {"default": {}, "mixed-rms": {"moments": "mixed", "gain": "rms"}}
EXPECTED_SCALES = {("default", "relu"): 1 / math.sqrt(0.5 - 1 / (2 * math.pi)), ("default", "silu"): 1.7872,
                   ("mixed-rms", "relu"): math.sqrt(2), ("mixed-rms", "silu"): 1.650}


@pytest.mark.parametrize(("reading", "base"), sorted(EXPECTED_SCALES))
@pytest.mark.parametrize("per_channel", [False, True])
def test_scale_for_standard_normal_input(reading, base, per_channel):
    act = _train(A.ANAct(base=base, per_channel=per_channel, num_channels=16 if per_channel else None,
                         **READINGS[reading]))
    scale = act.scale.detach()
    assert scale.shape == ((16,) if per_channel else (1,))
    # 1/sqrt of a variance estimated from about 4,000 values per channel: within 3%
    assert torch.allclose(scale, torch.full_like(scale, EXPECTED_SCALES[reading, base]), rtol=0.03)


@pytest.mark.parametrize(("moments", "forward_gain"), [("centred", 0.5 - 1 / (2 * math.pi)), ("raw", 0.5),
                                                       ("mixed", 0.5)])
def test_gains_match_closed_forms_for_relu(moments, forward_gain):
    act = _train(A.ANAct(base="relu", moments=moments, per_channel=False))
    torch.testing.assert_close(act.running_forward_gain, torch.tensor([forward_gain]), rtol=0.02, atol=0)
    torch.testing.assert_close(act.running_backward_gain, torch.tensor([0.5]), rtol=0.02, atol=0)
    torch.testing.assert_close(act.running_mean, torch.tensor([1 / math.sqrt(2 * math.pi)]), rtol=0.02, atol=0)


@pytest.mark.parametrize("kernels_on", [True, False])
def test_default_reading_against_a_float64_reference(kernels_on):
    """The chosen estimator (centred moments, lambda = 1/sqrt(rho), per channel): running statistics after two
    batches, the training output and its gradients, and evaluation with the statistics as they are."""
    batches = [torch.randn(32, 6, 5, 5) * 2 + 0.7, torch.randn(32, 6, 5, 5) * 0.5 - 0.3]
    act = A.ANAct(base="silu")
    dims = (0, 2, 3)
    expected_rho = expected_mean = None
    for index, x in enumerate(batches):
        wide = x.double()
        value = torch.nn.functional.silu(wide)
        rho = value.var(dims, unbiased=False) / wide.var(dims, unbiased=False)
        mean = value.mean(dims)
        expected_rho = rho if index == 0 else 0.9 * expected_rho + 0.1 * rho
        expected_mean = mean if index == 0 else 0.9 * expected_mean + 0.1 * mean
        leaf = x.clone().requires_grad_()
        with contextlib.nullcontext() if kernels_on else kernels.disabled():
            out = act(leaf)
        out.backward(torch.ones_like(out))
    torch.testing.assert_close(act.running_forward_gain.double(), expected_rho, rtol=1e-5, atol=0)
    torch.testing.assert_close(act.running_mean.double(), expected_mean, rtol=1e-5, atol=1e-7)
    scale, centre = expected_rho.rsqrt().view(1, 6, 1, 1), expected_mean.view(1, 6, 1, 1)  # beta is 0
    wide = batches[-1].double().requires_grad_()
    reference = scale * (torch.nn.functional.silu(wide) - centre)
    reference.backward(torch.ones_like(reference))
    torch.testing.assert_close(out.double(), reference.detach(), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(leaf.grad.double(), wide.grad, rtol=1e-4, atol=1e-5)
    act.eval()
    x = torch.randn(4, 6, 5, 5)
    torch.testing.assert_close(act(x).double(), scale * (torch.nn.functional.silu(x.double()) - centre),
                               rtol=1e-4, atol=1e-5)


def test_output_formula_and_eval_uses_statistics_as_they_are():
    act = _train(A.ANAct(base="silu", per_channel=False))
    with torch.no_grad():
        act.beta.fill_(0.5)
    act.eval()
    state = {k: v.clone() for k, v in act.state_dict().items()}
    x = torch.randn(8, 16, 4, 4) * 3 + 1
    expected = (act.gain_scale + 0.3 * math.tanh(0.5)) * (torch.nn.functional.silu(x) - act.running_mean)
    torch.testing.assert_close(act(x), expected)
    for key, value in act.state_dict().items():
        torch.testing.assert_close(value, state[key])


def test_generic_base_path_matches_the_formula():
    # apalu has parameters: its output goes through autograd and the rescaling is a separate pass; f' comes from its
    # input_gradient, which must agree with autograd
    act = _train(A.ANAct(base="apalu", base_params={"per_channel": True}, num_channels=16, per_channel=False), batches=1)
    x = torch.randn(4, 16, 3, 3)
    f = act.base(x)
    expected_backward_gain = act.running_backward_gain.clone()
    act.eval()
    torch.testing.assert_close(act(x), act.scale * (f - act.running_mean))
    batch = torch.randn(128, 16, 8, 8, generator=torch.Generator().manual_seed(0))  # the batch _train used
    sample = act._statistics_sample(batch).requires_grad_()
    (derivative,) = torch.autograd.grad(act.base(sample).sum(), sample)
    torch.testing.assert_close(expected_backward_gain, derivative.square().mean().reshape(1))


def test_momentum_update_and_first_batch_replacement():
    act = A.ANAct(base="relu", momentum=0.75, per_channel=False)
    x1, x2 = torch.randn(64, 4, 4, 4), torch.randn(64, 4, 4, 4) * 2 + 1
    act(x1)
    first = act.running_mean.clone()
    torch.testing.assert_close(first, torch.relu(x1).mean().reshape(1))
    act(x2)
    torch.testing.assert_close(act.running_mean, 0.75 * first + 0.25 * torch.relu(x2).mean().reshape(1))
    assert act.num_batches_tracked.item() == 2


def test_statistics_carry_no_gradient_and_beta_learns():
    act = A.ANAct(base="silu", per_channel=False)
    x = torch.randn(16, 4, 3, 3, requires_grad=True)
    act(x).square().sum().backward()
    assert act.beta.grad is not None and act.beta.grad.abs().item() > 0
    assert all(not b.requires_grad for b in act.buffers())


def test_options_without_mean_and_learnable_term():
    act = _train(A.ANAct(base="relu", subtract_mean=False, learnable=False, per_channel=False))
    assert act.beta is None and "beta" not in dict(act.named_parameters())
    x = torch.randn(4, 16, 2, 2)
    act.eval()
    torch.testing.assert_close(act(x), act.gain_scale * torch.relu(x))


def test_starts_as_its_base_before_any_training_batch():
    x = torch.randn(4, 3, 5)
    torch.testing.assert_close(A.ANAct(base="gelu", per_channel=False).eval()(x), torch.nn.functional.gelu(x))


def test_state_dict_round_trip_and_keys():
    act = _train(A.ANAct(base="apalu", per_channel=True, num_channels=16, base_params={"per_channel": True}))
    assert set(act.state_dict()) == {
        "beta", "running_forward_gain", "running_backward_gain", "running_mean", "num_batches_tracked",
        "base.a_raw", "base.b_raw",
    }
    assert act.base.a_raw.shape == (16,)
    fresh = A.create_activation("anact", base="apalu", per_channel=True, num_channels=16,
                                base_params={"per_channel": True})
    fresh.load_state_dict(act.state_dict())
    x = torch.randn(2, 16, 3, 3)
    torch.testing.assert_close(fresh.eval()(x), act.eval()(x))


def test_statistics_sample_is_bounded():
    act = A.ANAct(base="relu", per_channel=False)
    act.max_statistics_elements = 100
    assert act._statistics_sample(torch.randn(64, 10, 5)).shape == (2, 10, 5)
    act.max_statistics_elements = None
    assert act._statistics_sample(torch.randn(64, 10, 5)).shape == (64, 10, 5)


@pytest.mark.parametrize(
    ("base", "base_params"), [("relu", None), ("apalu", {"per_channel": True}), ("prelu", {"per_channel": True})]
)
def test_traces_into_one_graph_with_torch_compile(base, base_params):
    # bases with parameters too: their statistics take f' from input_gradient, not from autograd.grad
    module = A.ANAct(base=base, per_channel=True, num_channels=4, base_params=base_params).double()
    with torch.no_grad():
        for parameter in module.base.parameters():
            parameter.copy_(torch.linspace(-0.5, 0.5, parameter.numel()))
    reference = copy.deepcopy(module)
    compiled = torch.compile(module, backend="aot_eager", fullgraph=True)
    x = torch.randn(3, 4, 5, 5, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(compiled(x).square().sum(), x)
    (expected,) = torch.autograd.grad(reference(x).square().sum(), x)
    torch.testing.assert_close(grad, expected)
    torch.testing.assert_close(module.state_dict(), reference.state_dict())
    assert module.num_batches_tracked.item() == 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"base": "anact"}, "base='anact' is not allowed"),
        ({"base": "reluu"}, "unknown activation family 'reluu'.*did you mean 'relu'"),
        ({"momentum": 1.0}, r"momentum=1.0 is not allowed; allowed: a number >= 0.0 and < 1.0"),
        ({"base": "elu", "base_params": {"alpah": 2}}, "unknown parameter 'alpah'.*did you mean 'alpha'"),
    ],
)
def test_invalid_parameters(kwargs, message):
    with pytest.raises(A.ActivationSpecError, match=message):
        A.ANAct(**kwargs)


def test_default_anact_silu_trains_resnet20_at_a_high_learning_rate():
    """The post-activation ResNet-20 where the first reading blew up: two epochs at lr 0.3 stay finite."""
    from actsearch.trainers import Task, run_trial

    task = Task(dataset="synthetic", network="resnet20", width=0.25, epochs=2, batch_size=64, device="cpu")
    result = run_trial(task, A.ActivationSpec("anact", {"base": "silu"}), {"lr": 0.3})
    losses = [epoch["train_loss"] for epoch in result.history]
    assert len(losses) == 2 and all(math.isfinite(loss) for loss in losses), losses
    assert losses[-1] < 3 * losses[0]
