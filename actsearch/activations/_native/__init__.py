"""Fused CPU kernels for LayerAct, ANAct and APALU, compiled from ``kernels.c`` on first use (LayerAct's
Triton kernels for CUDA are in :mod:`actsearch.activations._native.gpu`).

Eager PyTorch runs these families as chains of memory-bound passes; the C kernels do each direction in one pass
over memory (see ``kernels.c``). They cover float32 CPU tensors; everything else (GPU, float64, half
precision, tracing with torch.compile / torch.export / torch.jit) keeps the PyTorch implementation, which is
also what runs when no C compiler is found: a warning says so once.

The shared library is built with the system C compiler (``$CC``, else ``cc``) into
``$ACTSEARCH_CACHE_DIR/native`` (default ``~/.cache/actsearch/native``, or ``$XDG_CACHE_HOME/actsearch/native``),
keyed by the source, the flags, the compiler and the CPU, so a later process loads it in milliseconds. Set
``ACTSEARCH_NATIVE_KERNELS=0`` to turn the kernels off.

Example::

    import torch
    from actsearch.activations import _native
    x = torch.randn(8, 16, 4, 4)
    if _native.usable(x):  # x: float32, CPU, contiguous
        out, gate, mean, rstd = _native.layeract_forward(x, alpha=1e-5, hard=False, groups=8)
    with _native.disabled():
        ...                                     # the PyTorch implementation, e.g. to compare
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch

__all__ = [
    "ANACT_KINDS",
    "anact_backward",
    "anact_forward",
    "anact_prepare",
    "apalu_backward",
    "apalu_forward",
    "build",
    "disabled",
    "layeract_backward",
    "layeract_forward",
    "library",
    "same_layout",
    "switched_on",
    "usable",
]

SOURCE = Path(__file__).with_name("kernels.c")
# -fno-trapping-math lets clamps become vector selects; -fno-tree-pre keeps gcc from turning them back into branches
BASE_FLAGS = ("-O3", "-std=c11", "-fPIC", "-shared", "-fno-trapping-math", "-fno-math-errno", "-ffp-contract=fast")
# tried in order: the first set that compiles is used
FLAG_SETS = (
    BASE_FLAGS + ("-fno-tree-pre", "-march=native", "-fopenmp"),
    BASE_FLAGS + ("-march=native", "-fopenmp"),
    BASE_FLAGS,
)
ANACT_KINDS = {"relu": 0, "leaky_relu": 1, "silu": 2, "hardsilu": 3, "gelu": 4, "gelu_tanh": 5, "apalu": 6}
_COMPILE_TIMEOUT = 300  # seconds

_lock = threading.Lock()
_loaded: list[ctypes.CDLL | None] = []  # empty until the first load attempt
_disabled_depth = 0


def _cache_directory() -> Path:
    if os.environ.get("ACTSEARCH_CACHE_DIR"):
        return Path(os.environ["ACTSEARCH_CACHE_DIR"]) / "native"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "actsearch" / "native"


def _cpu_description() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor()
    wanted = [line for line in lines if line.startswith(("model name", "flags", "Features"))]
    return "\n".join(dict.fromkeys(wanted))


def _compiler_version(compiler: str) -> str:
    try:
        return subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def build(compiler: str | None = None, directory: Path | None = None) -> Path:
    """Compile ``kernels.c`` (or reuse an earlier build) and return the shared library's path.

    Raises ``RuntimeError`` with the compiler's message when no flag set compiles."""
    compiler = compiler or os.environ.get("CC") or "cc"
    if shutil.which(compiler) is None:
        raise RuntimeError(f"no C compiler {compiler!r} on PATH (set CC to choose one)")
    directory = Path(directory) if directory is not None else _cache_directory()
    source = SOURCE.read_bytes()
    fingerprint = hashlib.sha256(
        b"\0".join([source, compiler.encode(), _compiler_version(compiler).encode(), _cpu_description().encode()])
    )
    errors = []
    for flags in FLAG_SETS:
        key = fingerprint.copy()
        key.update(" ".join(flags).encode())
        target = directory / f"kernels-{key.hexdigest()[:16]}.so"
        if target.exists():
            return target
        directory.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(dir=directory, prefix=".building-", suffix=".so")
        os.close(handle)
        try:
            result = subprocess.run(
                [compiler, *flags, "-o", partial, str(SOURCE), "-lm"],
                capture_output=True,
                text=True,
                timeout=_COMPILE_TIMEOUT,
            )
            if result.returncode == 0:
                os.replace(partial, target)  # atomic: processes building at once all end with a whole file
                return target
            errors.append(f"{' '.join(flags)}: {result.stderr.strip()[-500:]}")
        except (OSError, subprocess.SubprocessError) as error:
            errors.append(f"{' '.join(flags)}: {error}")
        finally:
            if os.path.exists(partial):
                os.unlink(partial)
    raise RuntimeError("the C compiler failed:\n" + "\n".join(errors))


def _declare(lib: ctypes.CDLL) -> ctypes.CDLL:
    pointer, size, real, flag = ctypes.c_void_p, ctypes.c_int64, ctypes.c_float, ctypes.c_int
    signatures = {
        "layeract_forward": [pointer] * 5 + [size, size, real, flag, flag],
        "layeract_backward": [pointer] * 6 + [size, size, flag, flag],
        "anact_prepare": [flag, pointer, size, size, size, flag, real, pointer, pointer, flag] + [pointer] * 4
        + [ctypes.c_double, ctypes.c_double, pointer, flag, ctypes.c_double, pointer],
        "anact_forward": [flag] + [pointer] * 3 + [size, size, size, flag, real, flag],
        "anact_backward": [flag] + [pointer] * 7 + [size, size, size, flag, real, flag],
        "apalu_forward": [pointer] * 4 + [size, size, size, flag, flag],
        "apalu_backward": [pointer] * 7 + [size, size, size, flag, flag],
    }
    for name, argtypes in signatures.items():
        function = getattr(lib, name)
        function.argtypes, function.restype = argtypes, ctypes.c_int
    return lib


def switched_on() -> bool:
    """False inside :func:`disabled` or with ``ACTSEARCH_NATIVE_KERNELS=0`` (or false, no): the custom kernels,
    the C ones and the GPU ones (:mod:`actsearch.activations._native.gpu`), are then not used."""
    if _disabled_depth:
        return False
    switch = os.environ.get("ACTSEARCH_NATIVE_KERNELS")
    return switch is None or switch.strip().lower() not in ("0", "false", "no")


def library() -> ctypes.CDLL | None:
    """The loaded kernels, or None when they are turned off or could not be built (warned once)."""
    if not switched_on():
        return None
    if not _loaded:
        with _lock:
            if not _loaded:
                try:
                    _loaded.append(_declare(ctypes.CDLL(str(build()))))
                except (RuntimeError, OSError) as error:
                    warnings.warn(
                        f"actsearch: the CPU kernels for LayerAct, ANAct and APALU are unavailable, so these run "
                        f"slower on the CPU ({error})",
                        RuntimeWarning,
                        stacklevel=2,
                    )
                    _loaded.append(None)
    return _loaded[0]


def _lib() -> ctypes.CDLL:
    """The kernels, for the wrappers below, which run only after :func:`usable` said yes."""
    return _loaded[0]


@contextlib.contextmanager
def disabled() -> Iterator[None]:
    """Run the block with the PyTorch implementations (for comparisons and tests)."""
    global _disabled_depth
    _disabled_depth += 1
    try:
        yield
    finally:
        _disabled_depth -= 1


def usable(x: torch.Tensor, channels_last_ok: bool = False) -> bool:
    """True when the kernels are loaded and ``x`` is a plain, contiguous float32 CPU tensor outside any tracing
    (torch.compile, torch.export, torch.jit and torch.fx need the PyTorch implementation). With
    ``channels_last_ok``, a channels-last 4-D tensor passes too: for a computation that only needs each sample
    to be one dense block (per-sample statistics) or nothing at all (elementwise)."""
    if torch.compiler.is_compiling():
        return False
    if type(x) is not torch.Tensor or x.dtype != torch.float32 or x.device.type != "cpu":
        return False
    if not (x.is_contiguous() or (channels_last_ok and _is_channels_last(x))):
        return False
    if torch.jit.is_tracing():
        return False
    return library() is not None


def _is_channels_last(x: torch.Tensor) -> bool:
    return x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last)


def same_layout(grad: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``grad`` laid out in memory as ``x`` is (the kernels index both alike)."""
    if grad.stride() == x.stride():
        return grad
    return grad.contiguous(memory_format=torch.channels_last if _is_channels_last(x) else torch.contiguous_format)


def _pointer(tensor: torch.Tensor | None) -> int | None:
    return None if tensor is None else tensor.data_ptr()


def _check(status: int, name: str) -> None:
    if status != 0:
        raise RuntimeError(f"actsearch: the {name} kernel failed with status {status}")


def layeract_forward(x: torch.Tensor, alpha: float, hard: bool, groups: int, for_backward: bool = True):
    """``(out, gate, mean, rstd)`` of LayerAct over ``groups`` equal, consecutive blocks of ``x``. ``gate`` is the
    sigmoid gate kept for backward (so that backward takes no exp); None for the hardsigmoid gate, which backward
    recomputes, or when ``for_backward`` is False."""
    out = torch.empty_like(x)
    gate = torch.empty_like(x) if for_backward and not hard else None
    mean, rstd = x.new_empty(groups), x.new_empty(groups)
    _lib().layeract_forward(
        _pointer(x), _pointer(out), _pointer(gate), _pointer(mean), _pointer(rstd), groups, x.numel() // groups,
        alpha, int(hard), torch.get_num_threads(),
    )
    return out, gate, mean, rstd


def layeract_backward(x, grad, gate, mean, rstd, hard: bool, reuse_gate: bool = False) -> torch.Tensor:
    """The input gradient of :func:`layeract_forward` for the output gradient ``grad``; with ``reuse_gate``, it
    is written over ``gate`` (which nothing else may need)."""
    grad = same_layout(grad, x)
    grad_in = gate if reuse_gate and gate is not None else torch.empty_like(x)
    groups = mean.numel()
    _lib().layeract_backward(
        _pointer(x), _pointer(grad), _pointer(gate), _pointer(mean), _pointer(rstd), _pointer(grad_in), groups,
        x.numel() // groups, int(hard), torch.get_num_threads(),
    )
    return grad_in


def _layout(x: torch.Tensor, per_channel: bool) -> Sequence[int]:
    """``(outer, channels, inner, interleaved)``: the kernels see ``x`` as rows of ``inner`` elements, row r in
    channel ``r % channels``; per layer, one channel and one row (in whatever memory order ``x`` has); per channel
    in channels-last memory, ``inner`` pixels of ``channels`` interleaved values."""
    if not per_channel:
        return 1, 1, x.numel(), 0
    if _is_channels_last(x) and not x.is_contiguous():
        return 1, x.shape[1], x.numel() // x.shape[1], 1
    return x.shape[0], x.shape[1], x[0, 0].numel(), 0


def anact_prepare(kind: int, parameter: float, x, per_channel: bool, sample_size: int | None, running, momentum,
                  variance_floor: float, beta, subtract_mean: bool, gain_floor: float, apalu=None,
                  pooled: bool = False) -> torch.Tensor:
    """ANAct's coefficients for a pass over ``x``, float32 ``(4, channels)``: scale, ``scale * mean``, mean and
    ``d scale / d beta`` (see ``anact_prepare`` in kernels.c). With ``sample_size`` (training), the ``running``
    buffers (forward gain, backward gain, mean, batch count) first take in the statistics of the first
    ``sample_size`` samples of ``x``, in place.

    For the kind ``"apalu"``, ``apalu`` is APALU's ``(a, b)``, float32 with one value per channel of the layout,
    and the coefficients have four more rows: ``scale * a``, ``scale * b``, ``a`` and ``b``. ``pooled`` (per-layer
    ANAct around a per-channel APALU, ``per_channel`` then giving the layout): the running buffers and ``beta``
    have one element, updated from all channels, and each column holds the layer's coefficients."""
    sample = x if sample_size is None else x.narrow(0, 0, sample_size)  # dense in either memory format
    outer, channels, inner, interleaved = _layout(sample, per_channel)
    forward_gain, backward_gain, mean, batches = running
    a, b = apalu if apalu is not None else (None, None)
    out = forward_gain.new_empty(8 if apalu is not None else 4, channels)
    status = _lib().anact_prepare(
        kind, _pointer(sample) if sample_size is not None else None, outer, channels, inner, interleaved,
        parameter, _pointer(a), _pointer(b), int(pooled), _pointer(forward_gain), _pointer(backward_gain),
        _pointer(mean), _pointer(batches), momentum, variance_floor, _pointer(beta), int(subtract_mean), gain_floor,
        _pointer(out),
    )
    _check(status, "anact statistics")
    return out


def anact_forward(kind: int, parameter: float, x, coefficients, per_channel: bool) -> torch.Tensor:
    """``f(x) * scale - scale * mean`` with the coefficients of :func:`anact_prepare`."""
    out = torch.empty_like(x)
    _lib().anact_forward(
        kind, _pointer(x), _pointer(out), _pointer(coefficients), *_layout(x, per_channel), parameter,
        torch.get_num_threads(),
    )
    return out


def anact_backward(kind: int, parameter: float, x, grad, coefficients, per_channel: bool, input_gradient: bool,
                   beta_gradient: bool, apalu_gradients: bool = False):
    """``(grad * f'(x) * scale or None, the gradient of beta or None, of APALU's a or None, of its b or None)`` for
    :func:`anact_forward`, one value per channel of the layout; the last two only for the kind ``"apalu"`` with
    ``apalu_gradients``."""
    grad = same_layout(grad, x)
    grad_x = torch.empty_like(x) if input_gradient else None
    channels = coefficients.shape[1]
    grad_beta = coefficients.new_empty(channels) if beta_gradient else None
    grad_a = coefficients.new_empty(channels) if apalu_gradients else None
    grad_b = coefficients.new_empty(channels) if apalu_gradients else None
    status = _lib().anact_backward(
        kind, _pointer(x), _pointer(grad), _pointer(grad_x), _pointer(coefficients), _pointer(grad_beta),
        _pointer(grad_a), _pointer(grad_b), *_layout(x, per_channel), parameter, torch.get_num_threads(),
    )
    _check(status, "anact backward")
    return grad_x, grad_beta, grad_a, grad_b


def apalu_forward(x, a, b, per_channel: bool) -> torch.Tensor:
    """APALU of ``x`` with float32 ``a``, ``b`` (one each, or one per channel)."""
    out = torch.empty_like(x)
    _lib().apalu_forward(_pointer(x), _pointer(out), _pointer(a), _pointer(b), *_layout(x, per_channel),
                         torch.get_num_threads())
    return out


def apalu_backward(x, grad, a, b, per_channel: bool, input_gradient: bool, parameter_gradients: bool):
    """``(grad_x or None, grad_a or None, grad_b or None)`` for :func:`apalu_forward`."""
    grad = same_layout(grad, x)
    grad_x = torch.empty_like(x) if input_gradient else None
    grad_a = torch.empty_like(a) if parameter_gradients else None
    grad_b = torch.empty_like(b) if parameter_gradients else None
    _lib().apalu_backward(
        _pointer(x), _pointer(grad), _pointer(grad_x), _pointer(a), _pointer(b), _pointer(grad_a), _pointer(grad_b),
        *_layout(x, per_channel), torch.get_num_threads(),
    )
    return grad_x, grad_a, grad_b
