"""The CPU backend: LayerAct, ANAct and APALU through the C kernels of ``kernels.c`` (built and loaded by
:mod:`actsearch.activations.kernels.c_library`), for float32 tensors.

Eager PyTorch runs these families as chains of memory-bound passes; the C kernels do each direction in one pass
over memory (see ``kernels.c``). Each function below takes tensors :func:`accepts` said yes to; the families
reach them through :func:`actsearch.activations.kernels.backend_for`, which also leaves float64, half
precision and tracing (torch.compile, torch.export, torch.jit) to PyTorch.

Example::

    import torch
    from actsearch.activations.kernels import cpu
    x = torch.randn(8, 16, 4, 4)
    if cpu.loaded() and cpu.accepts(x):
        out, saved = cpu.layeract_forward(x, alpha=1e-5, hard=False, groups=8, for_backward=True)
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from types import ModuleType

import torch

from actsearch.activations.kernels import c_library
from actsearch.activations.kernels.tensors import is_channels_last, same_layout

__all__ = [
    "ANACT_KINDS",
    "ANACT_STATISTICS",
    "PARAMETER_DTYPES",
    "accepts",
    "anact_backward",
    "anact_forward",
    "anact_prepare",
    "apalu_backward",
    "apalu_forward",
    "layeract_backward",
    "layeract_forward",
    "layeract_groups",
    "loaded",
    "trusted",
]

ANACT_KINDS = frozenset(range(7))  # every base of actsearch.activations.kernels.ANACT_KINDS, apalu included
ANACT_STATISTICS = True  # anact_prepare takes in a sample's statistics itself, in the same pass
PARAMETER_DTYPES = frozenset({torch.float32})  # of ANAct's buffers and APALU's parameters, which the kernels read
_THIS = sys.modules[__name__]


def loaded() -> ModuleType | None:
    """This backend once its library is loaded (built if need be), else None (no compiler)."""
    return _THIS if c_library.load() is not None else None


def trusted(key: object, check: Callable[[], str | None]) -> bool:
    """Always: the C kernels are built and tested on the machine that runs them (``check`` is for CUDA's)."""
    return True


def accepts(x: torch.Tensor, channels_last_ok: bool = False) -> bool:
    """True for a contiguous float32 tensor. With ``channels_last_ok``, a channels-last 4-D tensor passes too:
    for a computation that only needs each sample to be one dense block (per-sample statistics) or nothing at
    all (elementwise)."""
    return x.dtype == torch.float32 and (x.is_contiguous() or (channels_last_ok and is_channels_last(x)))


def layeract_groups(x: torch.Tensor, dims: tuple[int, ...], count: int) -> int | None:
    """How many blocks of ``count`` elements LayerAct's statistics cover (they must be the trailing dimensions),
    or None where the kernels do not apply."""
    if dims != tuple(range(x.dim() - len(dims), x.dim())):
        return None
    # over all non-batch dimensions, a sample is one dense block in channels-last memory too
    return x.numel() // count if accepts(x, channels_last_ok=len(dims) == x.dim() - 1) else None


def _pointer(tensor: torch.Tensor | None) -> int | None:
    return None if tensor is None else tensor.data_ptr()


def _check(status: int, name: str) -> None:
    if status != 0:
        raise RuntimeError(f"actsearch: the {name} kernel failed with status {status}")


def _lib():
    """The loaded library, for the functions below, which run only after :func:`loaded` said yes."""
    return c_library._loaded[0]


def layeract_forward(x: torch.Tensor, alpha: float, hard: bool, groups: int, for_backward: bool):
    """``(out, saved)``: LayerAct over ``groups`` equal, consecutive blocks of ``x``, and what backward needs:
    ``(gate, mean, rstd)``, ``gate`` the sigmoid gate (so that backward takes no exp); None for the hardsigmoid
    gate, which backward recomputes, or when ``for_backward`` is False."""
    out = torch.empty_like(x)
    gate = torch.empty_like(x) if for_backward and not hard else None
    mean, rstd = x.new_empty(groups), x.new_empty(groups)
    _lib().layeract_forward(
        _pointer(x), _pointer(out), _pointer(gate), _pointer(mean), _pointer(rstd), groups, x.numel() // groups,
        alpha, int(hard), torch.get_num_threads(),
    )
    return out, (gate, mean, rstd)


def layeract_backward(x: torch.Tensor, grad: torch.Tensor, saved: Sequence[torch.Tensor | None], hard: bool,
                      reuse_saved: bool) -> torch.Tensor:
    """The input gradient of :func:`layeract_forward` for the output gradient ``grad``; with ``reuse_saved``, it
    is written over the saved gate (which nothing else may need)."""
    gate, mean, rstd = saved
    grad = same_layout(grad, x)
    grad_in = gate if reuse_saved and gate is not None else torch.empty_like(x)
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
    if is_channels_last(x) and not x.is_contiguous():
        return 1, x.shape[1], x.numel() // x.shape[1], 1
    return x.shape[0], x.shape[1], x[0, 0].numel(), 0


def anact_prepare(kind: int, parameter: float, x, per_channel: bool, sample_size: int | None, running, momentum,
                  variance_floor: float, beta, subtract_mean: bool, gain_floor: float, apalu=None,
                  pooled: bool = False, moments: int = 0, gain: int = 0) -> torch.Tensor:
    """ANAct's coefficients for a pass over ``x``, float32 ``(4, channels)``: scale, ``scale * mean``, mean and
    ``d scale / d beta`` (see ``anact_prepare`` in kernels.c). With ``sample_size`` (training), the ``running``
    buffers (forward gain, backward gain, mean, batch count) first take in the statistics of the first
    ``sample_size`` samples of ``x``, in place. ``moments`` and ``gain`` number ANAct's reading
    (``ANACT_MOMENTS``, ``ANACT_GAINS``).

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
        moments, gain, _pointer(out),
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
