"""The kernels' entry points: the notice of the first C build, and the Triton kernels' check against PyTorch before
their first use (in Triton's interpreter on CPU tensors where there is no GPU, see conftest.py)."""

import os
import shutil
import subprocess
import sys
import warnings

import pytest
import torch

import actsearch.activations as A
from actsearch.activations import kernels
from actsearch.activations.kernels import cpu, cuda, triton_launch

needs_triton = pytest.mark.skipif(not triton_launch.triton_available(), reason="Triton is not installed")
# a Triton kernel that disagrees with PyTorch, or fails, is warned about: here it must fail the test instead
pytestmark = pytest.mark.filterwarnings("error:actsearch. the Triton kernels:RuntimeWarning")


def official(y, gate, alpha=1e-5):
    dims = tuple(range(1, y.dim()))
    var, mean = torch.var_mean(y, dims, correction=1, keepdim=True)
    n = (y - mean) / torch.sqrt(var + alpha)
    return y * (torch.sigmoid(n) if gate == "sigmoid" else torch.clamp(n / 6 + 0.5, 0.0, 1.0))


@pytest.mark.skipif(shutil.which(os.environ.get("CC") or "cc") is None, reason="no C compiler")
def test_the_first_build_in_a_process_says_so_once_on_stderr(tmp_path):
    # instead of a first forward that stalls in silence while the compiler runs
    script = "from actsearch.activations import cpu_kernels_available as load; assert load() and load()"
    environment = {**os.environ, "ACTSEARCH_CACHE_DIR": str(tmp_path)}
    line = f"actsearch: compiling CPU kernels once (about 8 s), cached in {tmp_path / 'native'}"
    for expected in (1, 0):  # the second process loads the cached library
        result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=environment,
                                timeout=600)
        assert result.returncode == 0, result.stderr[-2000:]
        assert result.stderr.splitlines().count(line) == expected, result.stderr[-2000:]


@pytest.fixture
def triton_for_cpu_tensors(monkeypatch):
    """The CUDA backend for CPU tensors (Triton's interpreter runs its kernels), as on a GPU, no kernel checked."""
    monkeypatch.setattr(cuda, "_verdicts", {})
    monkeypatch.setitem(kernels._LOADERS, "cpu", cuda.loaded)


@needs_triton
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_each_kernel_is_checked_once_before_its_first_use_and_then_runs(triton_for_cpu_tensors, dtype):
    # the module's filterwarnings turns a disagreement into a failure here
    x = (torch.randn(3, 6, 5, 5) * 2).to(dtype)
    modules = {"_LayerActKernelsBackward": A.LayerAct(gate="hardsigmoid"),
               "_APALUKernelsBackward": A.APALU(per_channel=True, num_channels=6),
               "_ANActKernelsBackward": A.ANAct(base="gelu", num_channels=6)}
    random_state = torch.get_rng_state()
    for backward_name, module in modules.items():
        with torch.inference_mode():  # the first use, so the check, in inference mode
            module(x)
        leaf = x.clone().requires_grad_()
        out = module(leaf)
        assert out.grad_fn.name() == backward_name and out.dtype == dtype
        out.float().sum().backward()
    assert torch.equal(torch.get_rng_state(), random_state)  # the check draws from a generator of its own
    assert cuda._verdicts == {("layeract", dtype, True): True, ("apalu", dtype, True): True,
                              ("anact", dtype, kernels.ANACT_KINDS["gelu"], True): True}


@needs_triton
def test_a_kernel_that_disagrees_with_pytorch_is_left_for_pytorch_after_one_warning(triton_for_cpu_tensors,
                                                                                     monkeypatch):
    forward = cuda.apalu_forward
    monkeypatch.setattr(cuda, "apalu_forward", lambda *args: forward(*args) * 1.01)
    module = A.APALU(per_channel=False)
    x = torch.randn(3, 4, 5, 5, requires_grad=True)
    with pytest.warns(RuntimeWarning, match=r"kernels for \('apalu', torch.float32, False\) disagree with the PyTorch"):
        out = module(x)
    with kernels.disabled():
        expected = module(x)
    assert out.grad_fn.name() == expected.grad_fn.name() != "_APALUKernelsBackward"
    torch.testing.assert_close(out, expected, rtol=0, atol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        module(x)  # checked once: no second warning, PyTorch again
    assert cuda._verdicts == {("apalu", torch.float32, False): False}


@needs_triton
def test_a_wrong_gradient_alone_is_caught_too(triton_for_cpu_tensors, monkeypatch):
    backward = cuda.layeract_backward
    monkeypatch.setattr(cuda, "layeract_backward", lambda *args, **options: backward(*args, **options) * 1.01)
    y = torch.randn(3, 4, 5, requires_grad=True)
    with pytest.warns(RuntimeWarning, match=r"kernels for \('layeract', torch.float32, False\) disagree"):
        out = A.LayerAct()(y)
    (grad,) = torch.autograd.grad(out, y, torch.ones_like(out))
    y64 = y.detach().double().requires_grad_()
    (expected,) = torch.autograd.grad(official(y64, "sigmoid"), y64, torch.ones_like(y64))
    torch.testing.assert_close(out, official(y.detach(), "sigmoid"), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(grad, expected.float(), rtol=1e-4, atol=1e-4)


@needs_triton
def test_the_check_keeps_its_tensors_from_the_callers_saved_tensor_hooks(triton_for_cpu_tensors):
    y = torch.randn(8, 16, 4, 4, requires_grad=True)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        out = A.LayerAct()(y)  # checked first, on 2 samples
    assert out.grad_fn.name() == "_LayerActKernelsBackward"
    assert [t.shape for t in saved if t.dim() == 4] == [y.shape]  # the layer's input only


@needs_triton
@pytest.mark.parametrize("dtype", [torch.float16, torch.float64])
def test_modules_in_another_precision_take_the_kernels_and_get_gradients_in_theirs(triton_for_cpu_tensors, dtype):
    # the Triton kernels take the parameters and buffers in float32 (the C kernels only float32 ones)
    x = torch.randn(4, 6, 5, 5).to(torch.float16).requires_grad_()
    for module, backward_name in ((A.APALU(per_channel=True, num_channels=6), "_APALUKernelsBackward"),
                                  (A.ANAct(base="silu", num_channels=6), "_ANActKernelsBackward")):
        module = module.to(dtype)
        out = module(x)
        assert out.grad_fn.name() == backward_name
        out.float().sum().backward()
        assert all(p.grad.dtype == dtype and torch.isfinite(p.grad).all() for p in module.parameters())
    assert not A.APALU(per_channel=False).double()._kernels_take(cpu, torch.randn(2, 3))
