"""The CUDA backend: LayerAct, ANAct and APALU through the Triton kernels
(:mod:`actsearch.activations.kernels.triton_launch`), for float32, float16 and bfloat16 tensors whose samples
are dense blocks (contiguous or channels-last).

The same functions as the CPU backend (:mod:`actsearch.activations.kernels.cpu`), with two differences the
families read from it: LayerAct's statistics must cover every non-batch dimension (:func:`layeract_groups`), and
ANAct's running statistics come from the family's PyTorch code (``ANACT_STATISTICS`` is False), apalu not being
among its bases. These kernels have been checked in Triton's interpreter and through Triton's compiler, not on
a GPU: :func:`trusted` compares each against the PyTorch implementation once per process before its first use,
and a kernel that disagrees is left for PyTorch, with a warning.

Example::

    import torch
    from actsearch.activations.kernels import cuda
    x = torch.randn(8, 16, 4, 4, device="cuda")
    if cuda.loaded() and cuda.accepts(x):
        out, saved = cuda.layeract_forward(x, alpha=1e-5, hard=False, groups=8, for_backward=True)
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Hashable, Sequence
from types import ModuleType

import torch

from actsearch.activations.kernels import triton_launch as launch
from actsearch.activations.kernels.tensors import is_channels_last

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

ANACT_KINDS = frozenset(range(6))  # the parameter-free bases of actsearch.activations.kernels.ANACT_KINDS
ANACT_STATISTICS = False  # the caller updates ANAct's running statistics before anact_prepare
_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
PARAMETER_DTYPES = frozenset({*_DTYPES, torch.float64})  # taken in float32, their gradients given back in theirs
_verdicts: dict[Hashable, bool] = {}  # whether each kernel checked so far agreed with PyTorch
_THIS = sys.modules[__name__]


def loaded() -> ModuleType | None:
    """This backend where Triton is installed and its kernels have not failed, else None."""
    return _THIS if launch.triton_available() and not launch._failed else None


def trusted(key: Hashable, check: Callable[[], str | None]) -> bool:
    """Whether the kernel that ``key`` names (family, dtype and compile-time options) may be used: the first time,
    ``check()`` compares it with the PyTorch implementation (None when they agree, else what differs), and a
    disagreement is warned once and remembered. A kernel that cannot even run was warned about by the launcher."""
    verdict = _verdicts.get(key)
    if verdict is None:
        try:
            difference = check()
        except launch.KernelUnavailable:
            return False  # warned once; loaded() is None from now on
        if difference is not None:
            warnings.warn(f"actsearch: the Triton kernels for {key} disagree with the PyTorch implementation on a "
                          f"test tensor, so PyTorch runs instead ({difference[:400]})", RuntimeWarning, stacklevel=3)
        verdict = _verdicts[key] = difference is None
    return verdict


def accepts(x: torch.Tensor, channels_last_ok: bool = False) -> bool:
    """True for a non-empty float32/float16/bfloat16 tensor with a batch dimension whose samples are dense blocks
    (contiguous, or channels-last 4-D, whatever ``channels_last_ok``, a restriction of the CPU backend)."""
    if x.dtype not in _DTYPES or x.dim() < 2 or x.numel() == 0:
        return False
    return x.is_contiguous() or is_channels_last(x)


def layeract_groups(x: torch.Tensor, dims: tuple[int, ...], count: int) -> int | None:
    """The number of samples where LayerAct's statistics cover every non-batch dimension, else None."""
    return x.shape[0] if len(dims) == x.dim() - 1 and accepts(x) else None


def layeract_forward(x: torch.Tensor, alpha: float, hard: bool, groups: int, for_backward: bool):
    """``(out, (mean, rstd))``, one float32 mean and rstd per sample; backward recomputes the gate from ``x``."""
    out, mean, rstd = launch.layeract_forward(x, alpha, hard)
    return out, (mean, rstd)


def layeract_backward(x: torch.Tensor, grad: torch.Tensor, saved: Sequence[torch.Tensor], hard: bool,
                      reuse_saved: bool) -> torch.Tensor:
    """The input gradient of :func:`layeract_forward` for the output gradient ``grad``."""
    mean, rstd = saved
    return launch.layeract_backward(x, grad, mean, rstd, hard)


def anact_prepare(kind: int, parameter: float, x, per_channel: bool, sample_size: int | None, running, momentum,
                  variance_floor: float, beta, subtract_mean: bool, gain_floor: float, apalu=None,
                  pooled: bool = False, moments: int = 0, gain: int = 0) -> torch.Tensor:
    """ANAct's coefficients, float32 ``(4, channels)`` as the CPU backend's (scale, ``scale * mean``, mean,
    ``d scale / d beta``), from the ``running`` buffers as they are: ``sample_size`` must be None and ``apalu``
    None (see ``ANACT_STATISTICS`` and ``ANACT_KINDS``); lambda by ``gain`` (``ANACT_GAINS``; ``moments`` only
    concerns the statistics, which the caller took)."""
    if sample_size is not None or apalu is not None:
        raise ValueError("the CUDA backend takes no ANAct statistics and no apalu base")
    forward_gain, backward_gain, mean, _ = running
    rho, rho_prime = (gain.float().clamp(min=gain_floor) for gain in (forward_gain, backward_gain))
    learned = torch.tanh(beta.float()) if beta is not None else torch.zeros_like(rho)
    if gain == 1:  # ANACT_GAINS: forward
        gain_scale = rho.rsqrt()
    elif gain == 2:  # backward
        gain_scale = rho_prime.rsqrt()
    else:
        gain_scale = torch.sqrt((rho + rho_prime) / (2 * rho * rho_prime))
    scale = gain_scale + 0.3 * learned
    mu = mean.float() if subtract_mean else torch.zeros_like(scale)
    return torch.stack([scale, scale * mu, mu, 0.3 * (1 - learned * learned)]).contiguous()


def anact_forward(kind: int, parameter: float, x, coefficients, per_channel: bool) -> torch.Tensor:
    """``f(x) * scale - scale * mean`` with the coefficients of :func:`anact_prepare`."""
    return launch.anact_forward(x, kind, parameter, coefficients[0], coefficients[1], per_channel)


def anact_backward(kind: int, parameter: float, x, grad, coefficients, per_channel: bool, input_gradient: bool,
                   beta_gradient: bool, apalu_gradients: bool = False):
    """``(grad * f'(x) * scale or None, the gradient of beta or None, None, None)`` for :func:`anact_forward`, one
    value per channel of the layout: ``(sum(grad f(x)) - mean sum(grad)) d scale / d beta``."""
    grad_x, sums = launch.anact_backward(x, grad, kind, parameter, coefficients[0], per_channel, input_gradient,
                                         beta_gradient)
    grad_beta = (sums[0] - coefficients[2] * sums[1]) * coefficients[3] if beta_gradient else None
    return grad_x, grad_beta, None, None


def apalu_forward(x, a, b, per_channel: bool) -> torch.Tensor:
    """APALU of ``x`` with ``a``, ``b`` (one each, or one per channel), taken in float32."""
    return launch.apalu_forward(x, *_float32(a, b), per_channel)


def apalu_backward(x, grad, a, b, per_channel: bool, input_gradient: bool, parameter_gradients: bool):
    """``(grad_x or None, grad_a or None, grad_b or None)`` for :func:`apalu_forward`, the last two in float32."""
    return launch.apalu_backward(x, grad, *_float32(a, b), per_channel, input_gradient, parameter_gradients)


def _float32(*values: torch.Tensor) -> list[torch.Tensor]:
    return [value.detach().float().contiguous() for value in values]
