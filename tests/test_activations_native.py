"""The C kernels for LayerAct, ANAct and APALU: against the formulas and the PyTorch paths, threads, NaN, build
and fallback."""

import contextlib
import copy
import ctypes
import os
import shutil

import pytest
import torch

import actsearch.activations as A
from actsearch.activations import kernels
from actsearch.activations.kernels import c_library, cpu
from actsearch.activations.layeract import layer_act

pytestmark = pytest.mark.skipif(
    shutil.which(os.environ.get("CC") or "cc") is None, reason="no C compiler: the PyTorch paths run instead"
)


def _kernels_take(x, channels_last_ok=False):
    """Whether the C kernels run for ``x`` (a family with per-sample statistics over trailing dimensions, or an
    elementwise one with ``channels_last_ok``)."""
    return kernels.backend_for(x) is cpu and cpu.accepts(x, channels_last_ok)


def official(y, gate, alpha=1e-5):
    dims = tuple(range(1, y.dim()))
    var, mean = torch.var_mean(y, dims, correction=1, keepdim=True)
    n = (y - mean) / torch.sqrt(var + alpha)
    return y * (torch.sigmoid(n) if gate == "sigmoid" else torch.clamp(n / 6 + 0.5, 0.0, 1.0))


def _layeract_and_grad(y32, gate, grad_out):
    leaf = y32.detach().requires_grad_()
    out = layer_act(leaf, gate)
    (grad,) = torch.autograd.grad(out, leaf, grad_out)
    return out, grad


def _float64_reference(y, gate, grad_out):
    y64 = y.double().requires_grad_()
    expected = official(y64, gate)
    (expected_grad,) = torch.autograd.grad(expected, y64, grad_out.double())
    return expected, expected_grad


@pytest.mark.parametrize("gate", ["sigmoid", "hardsigmoid"])
@pytest.mark.parametrize("shape", [(3, 2), (2, 17), (2, 3, 7, 5), (2, 5003)])
def test_layeract_kernels_match_the_formula(gate, shape):
    generator = torch.Generator().manual_seed(0)
    y = torch.randn(shape, generator=generator) * 2 - 0.5
    grad_out = torch.randn(shape, generator=generator)
    assert _kernels_take(y)
    out, grad = _layeract_and_grad(y, gate, grad_out)
    expected, expected_grad = _float64_reference(y, gate, grad_out)
    torch.testing.assert_close(out, expected.float(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(grad, expected_grad.float(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("gate", ["sigmoid", "hardsigmoid"])
def test_layeract_kernels_with_a_retained_graph_and_without_grad(gate):
    # backward writes the input gradient over the saved gate only when the graph is freed after it
    generator = torch.Generator().manual_seed(1)
    y = torch.randn(3, 5, 11, 7, generator=generator)
    grad_out = torch.randn(y.shape, generator=generator)
    expected, expected_grad = _float64_reference(y, gate, grad_out)
    leaf = y.clone().requires_grad_()
    out = layer_act(leaf, gate)
    first = torch.autograd.grad(out, leaf, grad_out, retain_graph=True)[0]
    second = torch.autograd.grad(out, leaf, grad_out)[0]
    for grad in (first, second):
        torch.testing.assert_close(grad, expected_grad.float(), rtol=1e-4, atol=1e-4)
    with torch.no_grad():  # forward keeps no gate
        torch.testing.assert_close(layer_act(leaf, gate), out.detach(), rtol=0, atol=0)


@pytest.mark.parametrize("gate", ["sigmoid", "hardsigmoid"])
def test_layeract_kernels_are_as_accurate_as_pytorch_for_a_large_mean(gate):
    # mean 1e4 times the spread: float32 itself limits both paths; the kernels' one-pass variance must not add to it
    generator = torch.Generator().manual_seed(0)
    y = torch.randn(2, 5003, generator=generator) * 0.01 + 100.0
    grad_out = torch.randn(2, 5003, generator=generator)
    expected, expected_grad = _float64_reference(y, gate, grad_out)
    out, grad = _layeract_and_grad(y, gate, grad_out)
    with kernels.disabled():
        torch_out, torch_grad = _layeract_and_grad(y, gate, grad_out)
    for got, reference, exact in ((out, torch_out, expected), (grad, torch_grad, expected_grad)):
        kernel_error = (got.double() - exact).abs().max().item()
        torch_error = (reference.double() - exact).abs().max().item()
        assert kernel_error <= 1.5 * torch_error + 1e-6, (kernel_error, torch_error)


@pytest.mark.parametrize("gate", ["sigmoid", "hardsigmoid"])
def test_layeract_thread_count_does_not_change_results(gate):
    y, grad_out = torch.randn(6, 4, 9, 9), torch.randn(6, 4, 9, 9)
    threads = torch.get_num_threads()
    try:
        single = _layeract_and_grad(y, gate, grad_out)
        torch.set_num_threads(2)
        double = _layeract_and_grad(y, gate, grad_out)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(single[0], double[0]) and torch.equal(single[1], double[1])


@pytest.mark.parametrize("gate", ["sigmoid", "hardsigmoid"])
def test_layeract_nan_reaches_the_loss_and_constant_samples_stay_finite(gate):
    y = torch.randn(3, 2, 4, 4)
    y[1, 0, 2, 2] = float("nan")
    y[2] = 1.5  # zero variance: n = 0 everywhere
    out, grad = _layeract_and_grad(y, gate, torch.ones_like(y))
    assert torch.isnan(out.sum()) and torch.isnan(out[1, 0, 2, 2])
    assert torch.isfinite(out[0]).all() and torch.isfinite(grad[0]).all()
    torch.testing.assert_close(out[2], torch.full_like(out[2], 0.75))
    assert torch.isfinite(grad[2]).all()


def test_layeract_falls_back_where_the_kernels_do_not_apply():
    float64 = torch.randn(2, 3, 4, dtype=torch.float64)
    strided = torch.randn(4, 3, 2).transpose(0, 2)
    assert not _kernels_take(float64) and not _kernels_take(strided)
    torch.testing.assert_close(layer_act(strided), official(strided.contiguous(), "sigmoid"))
    compiled = torch.compile(A.LayerAct(), backend="aot_eager", fullgraph=True)  # traced: PyTorch ops only
    y = torch.randn(3, 4, 5)
    torch.testing.assert_close(compiled(y), official(y, "sigmoid"), rtol=1e-5, atol=1e-5)


def test_channels_last_inputs_use_the_kernels_and_keep_their_layout():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(4, 6, 5, 5, generator=generator)
    grad_out = torch.randn(4, 6, 5, 5, generator=generator)
    channels_last = x.contiguous(memory_format=torch.channels_last)
    assert _kernels_take(channels_last, channels_last_ok=True) and not _kernels_take(channels_last)
    makers = [
        lambda: A.LayerAct(),
        lambda: A.ANAct(base="silu"),
        lambda: A.ANAct(base="gelu", per_channel=True, num_channels=6),
        lambda: A.APALU(),
        lambda: A.APALU(per_channel=True, num_channels=6),
    ]
    for make in makers:
        outputs = []
        for layout in (x, channels_last):
            module, leaf = make(), layout.clone().requires_grad_()
            out = module(leaf)
            out.backward(grad_out)
            assert out.is_contiguous(memory_format=torch.channels_last) == (layout is channels_last)
            outputs.append((out, leaf.grad, list(module.buffers()), [p.grad for p in module.parameters()]))
        torch.testing.assert_close(outputs[1][:3], outputs[0][:3], rtol=1e-5, atol=1e-6)
        # parameter gradients are sums over the batch, taken in another order in the other layout
        torch.testing.assert_close(outputs[1][3], outputs[0][3], rtol=1e-4, atol=1e-5)


BASES = [("relu", {}), ("leaky_relu", {"negative_slope": 0.2}), ("silu", {}), ("hardsilu", {}), ("gelu", {}),
         ("gelu", {"approximate": "tanh"})]


def _anact_step(module, x, grad_out, native):
    leaf = x.clone().requires_grad_()
    with kernels.disabled() if not native else contextlib.nullcontext():
        out = module(leaf)
        out.backward(grad_out)
    return out.detach(), leaf.grad


@pytest.mark.parametrize(("base", "base_params"), BASES)
@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("subtract_mean", [False, True])
def test_anact_kernels_match_the_pytorch_path(base, base_params, per_channel, subtract_mean):
    generator = torch.Generator().manual_seed(2)
    kernel = A.ANAct(base=base, base_params=base_params, per_channel=per_channel, subtract_mean=subtract_mean,
                     num_channels=5)
    reference = copy.deepcopy(kernel)
    for step in range(3):  # statistics, output and both gradients, with the running estimates moving
        x = torch.randn(4, 5, 6, 6, generator=generator) * 2 + 0.3
        grad_out = torch.randn(4, 5, 6, 6, generator=generator)
        out, grad = _anact_step(kernel, x, grad_out, native=True)
        expected_out, expected_grad = _anact_step(reference, x, grad_out, native=False)
        torch.testing.assert_close(out, expected_out, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(grad, expected_grad, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(kernel.beta.grad, reference.beta.grad, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(kernel.state_dict(), reference.state_dict(), rtol=1e-5, atol=1e-6)
    kernel.eval(), reference.eval()
    torch.testing.assert_close(kernel(x), reference(x), rtol=1e-5, atol=1e-5)


def test_anact_kernels_on_two_dimensional_input_and_partial_gradients():
    module = A.ANAct(base="silu", per_channel=True, num_channels=7)
    x = torch.randn(32, 7)
    module(x).sum().backward()  # only beta needs a gradient here
    with kernels.disabled():
        reference = A.ANAct(base="silu", per_channel=True, num_channels=7)
        reference(x).sum().backward()
    torch.testing.assert_close(module.beta.grad, reference.beta.grad, rtol=1e-5, atol=1e-5)
    frozen = A.ANAct(base="relu", learnable=False)
    leaf = x.clone().requires_grad_()
    frozen(leaf).sum().backward()
    torch.testing.assert_close(leaf.grad, (x > 0).float() * frozen.scale)


@pytest.mark.parametrize(("base", "base_params"), [("gelu", None), ("apalu", None), ("apalu", {"per_channel": True})])
def test_anact_thread_count_does_not_change_results(base, base_params):
    x, grad_out = torch.randn(8, 6, 10, 10), torch.randn(8, 6, 10, 10)
    module = A.ANAct(base=base, per_channel=True, num_channels=6, base_params=base_params)
    threads = torch.get_num_threads()
    first, twin = copy.deepcopy(module), copy.deepcopy(module)
    try:
        torch.set_num_threads(1)
        single = _anact_step(first, x, grad_out, native=True)
        torch.set_num_threads(2)
        double = _anact_step(twin, x, grad_out, native=True)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(single[0], double[0]) and torch.equal(single[1], double[1])
    for one, other in zip(first.parameters(), twin.parameters()):  # per-channel sums: each in one thread, in order
        assert torch.equal(one.grad, other.grad)


def test_build_reuses_its_cache(tmp_path):
    first = c_library.build(directory=tmp_path)
    stamp = first.stat().st_mtime_ns
    assert c_library.build(directory=tmp_path) == first and first.stat().st_mtime_ns == stamp
    assert [p.name for p in tmp_path.iterdir()] == [first.name]  # no partial files left behind


def test_build_errors_name_the_compiler(tmp_path):
    with pytest.raises(RuntimeError, match="no C compiler 'no-such-cc' on PATH"):
        c_library.build(compiler="no-such-cc", directory=tmp_path)
    with pytest.raises(RuntimeError, match="the C compiler failed"):
        c_library.build(compiler="false", directory=tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("gate", ["sigmoid", "hardsigmoid"])
def test_portable_build_matches_the_default_one(monkeypatch, tmp_path, gate):
    # the last flag set (no -march=native, no OpenMP) compiles the plain C loops instead of the AVX2 ones
    y = torch.randn(3, 5003) * 3 - 1
    grad_out = torch.randn(3, 5003)
    default = _layeract_and_grad(y, gate, grad_out)
    monkeypatch.setattr(c_library, "FLAG_SETS", (c_library.BASE_FLAGS,))
    portable = c_library._declare(ctypes.CDLL(str(c_library.build(directory=tmp_path))))
    monkeypatch.setattr(c_library, "_loaded", [portable])
    out, grad = _layeract_and_grad(y, gate, grad_out)
    torch.testing.assert_close(out, default[0], rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(grad, default[1], rtol=1e-5, atol=1e-5)
    expected, expected_grad = _float64_reference(y, gate, grad_out)
    torch.testing.assert_close(out, expected.float(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(grad, expected_grad.float(), rtol=1e-4, atol=1e-4)


def test_without_a_compiler_the_pytorch_path_runs_after_one_warning(monkeypatch, tmp_path):
    monkeypatch.setattr(c_library, "_loaded", [])
    monkeypatch.setenv("CC", "no-such-cc")
    monkeypatch.setenv("ACTSEARCH_CACHE_DIR", str(tmp_path))
    y = torch.randn(2, 3, 4)
    with pytest.warns(RuntimeWarning, match="kernels for LayerAct, ANAct and APALU are unavailable.*no C compiler"):
        assert not _kernels_take(y)
    assert c_library.library() is None  # no second attempt, no second warning
    torch.testing.assert_close(layer_act(y), official(y, "sigmoid"), rtol=1e-5, atol=1e-5)


def test_environment_switch_turns_the_kernels_off(monkeypatch):
    assert A.cpu_kernels_available() and c_library.library() is not None
    monkeypatch.setenv("ACTSEARCH_NATIVE_KERNELS", "0")
    assert not A.cpu_kernels_available() and not _kernels_take(torch.randn(2, 3))


@pytest.mark.parametrize("per_channel", [False, True])
def test_apalu_kernels_match_the_pytorch_path(per_channel):
    generator = torch.Generator().manual_seed(3)
    kernel = A.APALU(per_channel=per_channel, num_channels=5)
    with torch.no_grad():  # a and b away from 1, different per channel
        kernel.a_raw.add_(torch.randn(kernel.a_raw.shape, generator=generator) * 0.5)
        kernel.b_raw.add_(torch.randn(kernel.b_raw.shape, generator=generator) * 0.5)
    reference = copy.deepcopy(kernel)
    x = torch.randn(4, 5, 6, 6, generator=generator) * 2
    x[0, 0, 0, :3] = torch.tensor([-1e-4, -0.2, 0.0])  # expm1 near 0, and the branch point
    grad_out = torch.randn(4, 5, 6, 6, generator=generator)
    out, grad = _anact_step(kernel, x, grad_out, native=True)
    expected_out, expected_grad = _anact_step(reference, x, grad_out, native=False)
    torch.testing.assert_close(out, expected_out, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grad, expected_grad, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out[0, 0, 0, 0], expected_out[0, 0, 0, 0], rtol=1e-6, atol=0)
    for name in ("a_raw", "b_raw"):
        torch.testing.assert_close(getattr(kernel, name).grad, getattr(reference, name).grad, rtol=1e-4, atol=1e-4)


def _perturbed_anact_apalu(generator, **options):
    module = A.ANAct(base="apalu", num_channels=5, **options)
    with torch.no_grad():  # beta away from 0, a and b away from 1, all different per channel
        for parameter in module.parameters():
            parameter.add_(torch.randn(parameter.shape, generator=generator) * 0.5)
    return module


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("apalu_per_channel", [False, True])
@pytest.mark.parametrize(("subtract_mean", "learnable"), [(True, True), (False, True), (True, False), (False, False)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_anact_apalu_kernels_match_the_pytorch_path(per_channel, apalu_per_channel, subtract_mean, learnable,
                                                     channels_last):
    generator = torch.Generator().manual_seed(4)
    kernel = _perturbed_anact_apalu(generator, per_channel=per_channel, subtract_mean=subtract_mean,
                                    learnable=learnable, base_params={"per_channel": apalu_per_channel})
    reference = copy.deepcopy(kernel)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    for step in range(3):  # statistics, output and all gradients, with the running estimates moving
        x = (torch.randn(4, 5, 6, 6, generator=generator) * 2 + 0.3).contiguous(memory_format=memory_format)
        x[0, 0, 0, :3] = torch.tensor([-1e-4, -0.2, 0.0])  # expm1 near 0, and the branch point
        grad_out = torch.randn(4, 5, 6, 6, generator=generator)
        assert kernel._kernels_take(kernels.backend_for(x), x)
        out, grad = _anact_step(kernel, x, grad_out, native=True)
        expected_out, expected_grad = _anact_step(reference, x, grad_out, native=False)
        assert out.is_contiguous(memory_format=memory_format)
        torch.testing.assert_close(out, expected_out, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(grad, expected_grad, rtol=1e-5, atol=1e-5)
        expected_grads = dict(reference.named_parameters())
        for name, parameter in kernel.named_parameters():  # beta, base.a_raw, base.b_raw
            torch.testing.assert_close(parameter.grad, expected_grads[name].grad, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(kernel.state_dict(), reference.state_dict(), rtol=1e-5, atol=1e-6)
    assert {name for name, _ in kernel.named_parameters()} >= {"base.a_raw", "base.b_raw"}
    kernel.eval(), reference.eval()
    with kernels.disabled():
        expected_out = reference(x)
    torch.testing.assert_close(kernel(x), expected_out, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("per_channel", [False, True])
def test_anact_apalu_kernels_with_partial_gradients_and_in_inference_mode(per_channel):
    generator = torch.Generator().manual_seed(5)
    kernel = _perturbed_anact_apalu(generator, per_channel=per_channel, base_params={"per_channel": True})
    reference = copy.deepcopy(kernel)
    x = torch.randn(4, 5, 3, 3, generator=generator)
    input_grads = []
    for module, native in ((kernel, True), (reference, False)):
        with kernels.disabled() if not native else contextlib.nullcontext():
            module(x).sum().backward()  # no input gradient: beta, a and b only
            module.base.requires_grad_(False)
            module.beta.grad = None
            leaf = x.clone().requires_grad_()
            module(leaf).sum().backward()  # APALU frozen: the input and beta only
            with torch.inference_mode():
                module(x)  # f' from APALU's input_gradient: the statistics update without autograd too
        input_grads.append(leaf.grad)
    assert kernel.base.a_raw.grad is not None and kernel.beta.grad is not None
    torch.testing.assert_close(input_grads[0], input_grads[1], rtol=1e-5, atol=1e-5)
    for name in ("beta", "base.a_raw", "base.b_raw"):
        torch.testing.assert_close(kernel.get_parameter(name).grad, reference.get_parameter(name).grad, rtol=1e-4,
                                   atol=1e-4)
    assert kernel.num_batches_tracked.item() == reference.num_batches_tracked.item() == 3
    torch.testing.assert_close(kernel.state_dict(), reference.state_dict(), rtol=1e-5, atol=1e-6)


def test_anact_apalu_kernels_once_lazy_channels_exist():
    # no num_channels: the first call creates ANAct's and APALU's per-channel state, on the PyTorch path for APALU's
    kernel, reference = (A.ANAct(base="apalu", per_channel=True, base_params={"per_channel": True}) for _ in "ab")
    generator = torch.Generator().manual_seed(6)
    for step in range(2):
        x, grad_out = torch.randn(4, 5, 3, 3, generator=generator), torch.randn(4, 5, 3, 3, generator=generator)
        out, grad = _anact_step(kernel, x, grad_out, native=True)
        expected_out, expected_grad = _anact_step(reference, x, grad_out, native=False)
        torch.testing.assert_close((out, grad), (expected_out, expected_grad), rtol=1e-5, atol=1e-5)
    assert kernel._kernels_take(kernels.backend_for(x), x) and kernel.base.a_raw.shape == (5,)
    torch.testing.assert_close(kernel.base.a_raw.grad, reference.base.a_raw.grad, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(kernel.state_dict(), reference.state_dict(), rtol=1e-5, atol=1e-6)


def test_apalu_kernel_keeps_nan_and_channels_last():
    x = torch.randn(2, 3, 4, 4)
    x[1, 2, 0, 0] = float("nan")
    out = A.APALU()(x.contiguous(memory_format=torch.channels_last))
    assert torch.isnan(out[1, 2, 0, 0]) and torch.isfinite(out[0]).all()
    assert out.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("threads", [1, 2])
def test_channels_last_per_channel_beyond_one_channel_block(threads):
    # 70 channels: the interleaved kernels work 64 channels at a time
    generator = torch.Generator().manual_seed(threads)
    x, grad_out = torch.randn(3, 70, 5, 4, generator=generator), torch.randn(3, 70, 5, 4, generator=generator)
    channels_last = x.contiguous(memory_format=torch.channels_last)
    previous = torch.get_num_threads()
    try:
        torch.set_num_threads(threads)
        for make in (lambda: A.ANAct(base="silu", per_channel=True, num_channels=70),
                     lambda: A.APALU(per_channel=True, num_channels=70),
                     lambda: A.ANAct(base="apalu", num_channels=70, base_params={"per_channel": True}),
                     lambda: A.ANAct(base="apalu", per_channel=True, num_channels=70)):
            results = []
            for layout in (x, channels_last):
                module, leaf = make(), layout.clone().requires_grad_()
                module(leaf).backward(grad_out)
                out = module(leaf.detach())  # a second batch: the running statistics moved
                results.append((out, leaf.grad, list(module.buffers()), [p.grad for p in module.parameters()]))
            torch.testing.assert_close(results[1][:3], results[0][:3], rtol=1e-5, atol=1e-6)
            # parameter gradients are sums over the batch, taken in another order in the other layout
            torch.testing.assert_close(results[1][3], results[0][3], rtol=1e-4, atol=1e-5)
    finally:
        torch.set_num_threads(previous)
