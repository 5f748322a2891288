"""LayerAct's Triton kernels: on a GPU when there is one, else in Triton's interpreter on CPU tensors (see
conftest.py), against the float64 formula."""

import copy
import warnings

import pytest
import torch

import actsearch.activations as A
from actsearch.activations import kernels
from actsearch.activations.kernels import cuda
from actsearch.activations.kernels import triton_launch as gpu
from actsearch.activations.layeract import _LayerActKernels

pytestmark = [
    pytest.mark.skipif(not gpu.triton_available(), reason="Triton is not installed"),
    # a kernel that fails falls back to PyTorch code with this warning: here it must fail the test instead
    pytest.mark.filterwarnings("error:actsearch. the Triton kernels:RuntimeWarning"),
]
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


def official(y, gate, alpha=1e-5):
    dims = tuple(range(1, y.dim()))
    var, mean = torch.var_mean(y, dims, correction=1, keepdim=True)
    n = (y - mean) / torch.sqrt(var + alpha)
    return y * (torch.sigmoid(n) if gate == "sigmoid" else torch.clamp(n / 6 + 0.5, 0.0, 1.0))


def _layeract_kernels(leaf, hard, alpha=1e-5):
    """LayerAct through the Triton kernels, whatever the device (the interpreter's is the CPU)."""
    return _LayerActKernels.apply(leaf, cuda, hard, alpha, tuple(range(1, leaf.dim())), leaf.shape[0], True)


def _anact_kernels(module, leaf):
    """ANAct through the Triton kernels (after its first-use check), whatever the device."""
    return module._kernel_forward(cuda, leaf)


def _apalu_kernels(module, leaf):
    from actsearch.activations.apalu import _APALUKernels

    return _APALUKernels.apply(leaf, module.a, module.b, cuda, module.per_channel)


def _triton_takes(x):
    return kernels.backend_for(x) is cuda and cuda.accepts(x)


def _kernel_and_reference(y, gate, grad_out, alpha=1e-5):
    leaf = y.detach().clone().requires_grad_()
    out = _layeract_kernels(leaf, gate == "hardsigmoid", alpha)
    (grad,) = torch.autograd.grad(out, leaf, grad_out)
    y64 = y.detach().double().requires_grad_()
    expected = official(y64, gate, alpha)
    (expected_grad,) = torch.autograd.grad(expected, y64, grad_out.double())
    return out, grad, expected, expected_grad


@pytest.mark.parametrize("gate", ["sigmoid", "hardsigmoid"])
@pytest.mark.parametrize(
    "shape", [(3, 2), (2, 17), (2, 3, 7, 5), (2, 10500), (3, 16, 32, 32), (2, gpu.MAX_BLOCK + 1003)]
)
def test_triton_kernels_match_the_formula(gate, shape):
    # (2, 10500) and (3, 16, 32, 32): one program per sample, whose backward reads the sample in chunks (the
    # last chunk of the first partly outside it); the last shape is wider than one block: it is cut into blocks
    # (statistics added up across them)
    y = (torch.randn(shape) * 2 - 0.5).to(DEVICE)
    grad_out = torch.randn(shape).to(DEVICE)
    out, grad, expected, expected_grad = _kernel_and_reference(y, gate, grad_out)
    torch.testing.assert_close(out, expected.float(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(grad, expected_grad.float(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("gate", ["sigmoid", "hardsigmoid"])
@pytest.mark.parametrize("shape", [(4, 6, 5, 5), (2, 32, 24, 24)])  # one block per sample; blocks across samples
def test_triton_kernels_keep_the_layout_and_compute_half_precision_in_float32(gate, shape):
    y = (torch.randn(shape) * 50 + 200).to(DEVICE)  # float16 cannot hold this variance (~2500 * m)
    grad_out = torch.randn(shape).to(DEVICE)
    channels_last = y.contiguous(memory_format=torch.channels_last)
    out, grad, expected, expected_grad = _kernel_and_reference(channels_last, gate, grad_out)
    assert all(t.is_contiguous(memory_format=torch.channels_last) for t in (out, grad))
    torch.testing.assert_close(out, expected.float(), rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(grad, expected_grad.float(), rtol=1e-4, atol=1e-4)
    for dtype, tolerance in ((torch.bfloat16, 2e-2), (torch.float16, 2e-3)):
        low = y.to(dtype)
        out, grad, expected, expected_grad = _kernel_and_reference(low, gate, grad_out.to(dtype))
        assert out.dtype == grad.dtype == dtype and torch.isfinite(out).all() and torch.isfinite(grad).all()
        torch.testing.assert_close(out.double(), expected, rtol=tolerance, atol=tolerance * 10)
        torch.testing.assert_close(grad.double(), expected_grad, rtol=tolerance, atol=tolerance)


def test_a_failing_kernel_warns_once_and_leaves_the_pytorch_path(monkeypatch):
    def broken():
        raise RuntimeError("no ptxas")

    monkeypatch.setattr(gpu, "_failed", [])
    monkeypatch.setattr(gpu, "_kernels", broken)
    monkeypatch.setattr(cuda, "_verdicts", {})
    monkeypatch.setitem(kernels._LOADERS, "cpu", cuda.loaded)  # as on a GPU, for these CPU tensors
    y = torch.randn(3, 4, 5)
    with pytest.warns(RuntimeWarning, match=r"Triton kernels for LayerAct, ANAct and APALU are unavailable.*no ptxas"):
        out = A.LayerAct()(y)
    torch.testing.assert_close(out, official(y, "sigmoid"), rtol=1e-5, atol=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        A.LayerAct()(y)  # no second warning: the kernels are not tried again


def _broken_kernels():
    raise RuntimeError("out of resources: shared memory")


def test_a_kernel_failing_in_backward_gives_the_pytorch_gradients(monkeypatch):
    anact = _trained_anact("silu", {}, True, True, 6)
    apalu = A.APALU(per_channel=True, num_channels=6).to(DEVICE)
    with torch.no_grad():
        apalu.a_raw.copy_(torch.linspace(-1.0, 1.0, 6))
    x = (torch.randn(4, 6, 5, 5) * 2).to(DEVICE)
    grad_out = torch.randn(x.shape).to(DEVICE)
    calls = {
        "layeract": (lambda leaf: _layeract_kernels(leaf, False), A.LayerAct(), ()),
        "anact": (lambda leaf: _anact_kernels(anact, leaf), anact, (anact.beta,)),
        "apalu": (lambda leaf: _apalu_kernels(apalu, leaf), apalu, (apalu.a_raw, apalu.b_raw)),
    }
    for name, (through_kernels, module, parameters) in calls.items():
        gradients = []
        for kernels_fail in (True, False):
            monkeypatch.setattr(gpu, "_failed", [])
            leaf = x.detach().clone().requires_grad_()
            out = through_kernels(leaf)  # the forward kernel runs
            if kernels_fail:
                with monkeypatch.context() as broken:
                    broken.setattr(gpu, "_kernels", _broken_kernels)
                    with pytest.warns(RuntimeWarning, match="out of resources"):
                        wanted = torch.autograd.grad(out, (leaf, *parameters), grad_out)
                    assert gpu._failed and cuda.loaded() is None  # and off from now on
            else:
                with kernels.disabled():
                    reference = module(leaf)
                torch.testing.assert_close(out, reference, rtol=1e-5, atol=1e-5, msg=name)
                wanted = torch.autograd.grad(reference, (leaf, *parameters), grad_out)
            gradients.append(wanted)
        torch.testing.assert_close(gradients[0], gradients[1], rtol=1e-4, atol=1e-5, msg=name)


def test_every_grid_axis_but_the_first_stays_within_cuda_limits(monkeypatch):
    # CUDA allows 2**31 - 1 programs on a grid's first axis and 65,535 on the others: batches, and samples cut
    # into blocks, go on the first
    grids = []
    monkeypatch.setattr(gpu, "_launch", lambda name, grid, *args, **meta: grids.append((name, grid)))
    batch = 70_000
    for shape in [(batch, 4), (batch, 3, 2, 2), (8, gpu.MAX_BLOCK + 1)]:
        x = torch.empty(shape)
        for per_channel in (False, True):
            gpu.anact_forward(x, 0, 0.0, torch.ones(shape[1]), torch.zeros(shape[1]), per_channel)
            gpu.anact_backward(x, x, 0, 0.0, torch.ones(shape[1]), per_channel, True, True)
            gpu.apalu_forward(x, torch.ones(shape[1]), torch.ones(shape[1]), per_channel)
            gpu.apalu_backward(x, x, torch.ones(shape[1]), torch.ones(shape[1]), per_channel, True, True)
    for hard in (False, True):
        x = torch.randn(batch // 10, 2, gpu.MAX_BLOCK // 2 + 1)  # more samples than 65,535 blocks of one
        out, mean, rstd = gpu.layeract_forward(x, 1e-5, hard)
        gpu.layeract_backward(x, x, mean, rstd, hard)
    assert {name for name, _ in grids} >= {"anact_forward_kernel", "apalu_backward_kernel",
                                            "layeract_block_sums_kernel", "layeract_backward_apply_kernel"}
    assert all(1 <= size <= 65_535 for _, grid in grids for size in grid[1:]), grids
    assert max(grid[0] for _, grid in grids) > 65_535


@pytest.mark.parametrize("family", ["anact", "apalu"])
def test_per_channel_kernels_on_batch_by_channel_inputs(family):
    # (N, C): channels are the fastest axis in memory, as in channels-last
    channels = 70
    if family == "anact":
        module = _trained_anact("gelu", {}, True, True, channels)
        through_kernels = lambda leaf: _anact_kernels(module, leaf)  # noqa: E731
    else:
        module = A.APALU(per_channel=True, num_channels=channels).to(DEVICE)
        with torch.no_grad():
            module.b_raw.copy_(torch.linspace(-1.0, 1.0, channels))
        through_kernels = lambda leaf: _apalu_kernels(module, leaf)  # noqa: E731
    x = (torch.randn(300, channels) * 2).to(DEVICE)
    grad_out = torch.randn(x.shape).to(DEVICE)
    parameters = tuple(module.parameters())
    results = []
    for use_kernels in (True, False):
        leaf = x.detach().clone().requires_grad_()
        if use_kernels:
            out = through_kernels(leaf)
        else:
            with kernels.disabled():
                out = module(leaf)
        results.append((out, *torch.autograd.grad(out, (leaf, *parameters), grad_out)))
    torch.testing.assert_close(results[0][:2], results[1][:2], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(results[0][2:], results[1][2:], rtol=1e-4, atol=1e-4)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two GPUs")
def test_kernels_run_on_the_device_of_their_input_whatever_the_current_device():
    torch.cuda.set_device(0)
    y = torch.randn(4, 8, 6, 6, device="cuda:1", requires_grad=True)
    out = A.LayerAct()(y)
    out.sum().backward()
    with kernels.disabled():
        reference = A.LayerAct()(y)
    torch.testing.assert_close(out, reference, rtol=1e-5, atol=1e-5)
    assert out.device == y.grad.device == y.device


def test_only_cuda_tensors_the_kernels_cover_take_them():
    assert not _triton_takes(torch.randn(2, 3))  # CPU: the C kernels' domain
    if not torch.cuda.is_available():
        return
    y = torch.randn(2, 3, 4, device="cuda")
    assert _triton_takes(y) and _triton_takes(y.half()) and not _triton_takes(y.double())
    assert not _triton_takes(y.transpose(1, 2)) and not _triton_takes(y[:, :, ::2])
    with kernels.disabled():
        assert not _triton_takes(y)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
@pytest.mark.parametrize("gate", ["sigmoid", "hardsigmoid"])
def test_layeract_on_a_gpu_runs_the_kernels_and_keeps_only_the_input(gate):
    y = torch.randn(8, 16, 8, 8, device="cuda", requires_grad=True)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        out = A.LayerAct(gate=gate)(y)
    assert out.grad_fn.name() == "_LayerActKernelsBackward"
    assert sum(t.numel() == y.numel() for t in saved) == 1
    with kernels.disabled():
        reference = A.LayerAct(gate=gate)(y)
    torch.testing.assert_close(out, reference, rtol=1e-5, atol=1e-5)


ANACT_BASES = [("relu", {}), ("leaky_relu", {"negative_slope": 0.2}), ("silu", {}), ("hardsilu", {}), ("gelu", {}),
               ("gelu", {"approximate": "tanh"})]


def _trained_anact(base, base_params, per_channel, subtract_mean, channels):
    module = A.ANAct(base=base, base_params=base_params, per_channel=per_channel, subtract_mean=subtract_mean,
                     num_channels=channels)
    with kernels.disabled():
        module(torch.randn(16, channels, 6, 6) * 2 + 0.3)  # running statistics away from their initial values
    with torch.no_grad():
        module.beta.copy_(torch.linspace(-0.5, 0.5, module.beta.numel()))
    return module.to(DEVICE).eval()


@pytest.mark.parametrize(("base", "base_params"), ANACT_BASES)
@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("subtract_mean", [False, True])
@pytest.mark.parametrize("channels_last", [False, True])
def test_anact_triton_kernels_match_the_pytorch_path(base, base_params, per_channel, subtract_mean, channels_last):
    channels = 70  # more than one block of 64 channels
    module = _trained_anact(base, base_params, per_channel, subtract_mean, channels)
    x = (torch.randn(3, channels, 5, 7) * 2).to(DEVICE)
    x = x.contiguous(memory_format=torch.channels_last) if channels_last else x
    grad_out = torch.randn(x.shape).to(DEVICE)
    results = []
    for use_kernels in (True, False):
        module.zero_grad()
        leaf = x.detach().clone().requires_grad_()
        if use_kernels:
            out = _anact_kernels(module, leaf)
        else:
            with kernels.disabled():
                out = module(leaf)
        out.backward(grad_out)
        results.append((out, leaf.grad, module.beta.grad.clone()))
    (out, grad, beta_grad), expected = results
    assert out.is_contiguous(memory_format=torch.channels_last) == channels_last
    torch.testing.assert_close(out, expected[0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(grad, expected[1], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(beta_grad, expected[2], rtol=1e-4, atol=1e-4)


def test_anact_triton_kernels_in_half_precision_and_without_a_beta_gradient():
    module = _trained_anact("silu", {}, True, True, 6)
    x = torch.randn(4, 6, 5, 5).to(DEVICE)
    with torch.no_grad():
        scale, mean = (value[None, :, None, None] for value in (module.scale, module.running_mean))
        reference = scale * (torch.nn.functional.silu(x) - mean)
    for dtype in (torch.bfloat16, torch.float16):
        leaf = x.to(dtype).requires_grad_()
        module.beta.requires_grad_(False)
        out = _anact_kernels(module, leaf)
        assert out.dtype == dtype
        torch.testing.assert_close(out.float(), reference, rtol=2e-2, atol=2e-2)
        (grad,) = torch.autograd.grad(out.float().sum(), leaf)  # scale needs no gradient: no sums taken
        assert grad.dtype == dtype and torch.isfinite(grad.float()).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_anact_and_apalu_on_a_gpu_run_the_kernels():
    x = torch.randn(4, 8, 5, 5, device="cuda", requires_grad=True)
    assert A.APALU(per_channel=True, num_channels=8).cuda()(x).grad_fn.name() == "_APALUKernelsBackward"
    module = A.ANAct(base="relu", per_channel=True, num_channels=8).cuda()
    out = module(x)
    assert out.grad_fn.name() == "_ANActKernelsBackward"
    reference = copy.deepcopy(module).eval()
    with kernels.disabled():
        expected = reference(x)
    torch.testing.assert_close(module.eval()(x), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("channels_last", [False, True])
def test_apalu_triton_kernels_match_the_formula(per_channel, channels_last):
    channels = 70
    module = A.APALU(per_channel=per_channel, num_channels=channels)
    with torch.no_grad():  # a and b away from 1, different per channel
        module.a_raw.copy_(torch.linspace(-1.0, 1.0, module.a_raw.numel()))
        module.b_raw.copy_(torch.linspace(0.8, -0.6, module.b_raw.numel()))
    module = module.to(DEVICE)
    x = (torch.randn(3, channels, 5, 7) * 2).to(DEVICE)
    x[0, 0, 0, :3] = torch.tensor([0.0, -0.0, 1e-4])  # both sides of the kink
    x = x.contiguous(memory_format=torch.channels_last) if channels_last else x
    grad_out = torch.randn(x.shape).to(DEVICE)
    results = []
    for use_kernels in (True, False):
        module.zero_grad()
        leaf = x.detach().clone().requires_grad_()
        if use_kernels:
            out = _apalu_kernels(module, leaf)
        else:
            with kernels.disabled():
                out = module(leaf)
        out.backward(grad_out)
        results.append((out, leaf.grad, module.a_raw.grad.clone(), module.b_raw.grad.clone()))
    assert results[0][0].is_contiguous(memory_format=torch.channels_last) == channels_last
    torch.testing.assert_close(results[0][:2], results[1][:2], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(results[0][2:], results[1][2:], rtol=1e-4, atol=1e-4)


def test_anact_triton_path_keeps_its_own_copy_of_the_running_mean():
    # one module applied twice before backward: the second call moves the running mean the first one used
    module = _trained_anact("relu", {}, True, True, 6)
    x = torch.randn(4, 6, 5, 5).to(DEVICE).requires_grad_()
    out = _anact_kernels(module, x)
    with torch.no_grad():
        module.running_mean.add_(1.0)
    out.sum().backward()
    assert torch.isfinite(module.beta.grad).all()
