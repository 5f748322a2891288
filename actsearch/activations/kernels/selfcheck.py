"""Comparing a kernel with the PyTorch implementation it replaces, on a small tensor: what the CUDA backend runs
before it first uses a Triton kernel in a process (:func:`actsearch.activations.kernels.cuda.trusted`).

Example::

    import torch
    from actsearch.activations.kernels import selfcheck
    x = selfcheck.test_input(torch.randn(8, 3, 4, 4))          # 2 random samples like x's
    assert selfcheck.mismatch(torch.sigmoid, lambda t: 1 / (1 + torch.exp(-t)), (x,)) is None
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from actsearch.activations.kernels.tensors import is_channels_last

__all__ = ["TOLERANCES", "mismatch", "test_input"]

# relative and absolute, on outputs and gradients of order 1: a few units in the last place of each dtype (the
# kernels compute in float32 and round their results to the input's dtype; the reference stays in float32)
TOLERANCES = {torch.float32: 1e-4, torch.float16: 5e-3, torch.bfloat16: 3e-2}
_SEED = 0


def _generator(device: torch.device) -> torch.Generator:
    """A generator of its own, so that the check leaves the process's random stream as it was."""
    return torch.Generator(device=device).manual_seed(_SEED)


def test_input(like: torch.Tensor) -> torch.Tensor:
    """Random values shaped as the first two samples of ``like``, with its dtype, device and memory format (so
    they take the same kernel paths)."""
    shape = (min(2, like.shape[0]), *like.shape[1:])
    with torch.inference_mode(False):
        values = torch.randn(shape, generator=_generator(like.device), device=like.device) * 2 + 0.3
    layout = torch.channels_last if is_channels_last(like) and not like.is_contiguous() else torch.contiguous_format
    return values.to(like.dtype).contiguous(memory_format=layout)


def _same(value: torch.Tensor) -> torch.Tensor:
    return value


def mismatch(through_kernels: Callable[..., torch.Tensor], reference: Callable[..., torch.Tensor],
             inputs: Sequence[torch.Tensor]) -> str | None:
    """None when ``through_kernels(*inputs)`` and ``reference`` agree, output and gradients (for the same random
    output gradient) within :data:`TOLERANCES` of the first input's dtype; else what differs. ``reference`` gets
    the inputs in float32 (so half-precision rounding in it does not pass for a kernel error)."""
    device, dtype = inputs[0].device, inputs[0].dtype
    results = []
    # apart from the caller's autograd settings: inference mode, no_grad, autocast, saved-tensor hooks (offloading,
    # checkpointing), which would otherwise see the check's tensors
    with torch.inference_mode(False), torch.enable_grad(), torch.autocast(device.type, enabled=False), \
            torch.autograd.graph.saved_tensors_hooks(_same, _same):
        grad_out = None
        for function, wide in ((through_kernels, False), (reference, True)):
            leaves = [(value.float() if wide else value).detach().clone().requires_grad_() for value in inputs]
            out = function(*leaves)
            if grad_out is None:
                grad_out = torch.randn(out.shape, generator=_generator(device), device=device).to(out.dtype)
            gradients = torch.autograd.grad(out, leaves, grad_out.to(out.dtype))
            results.append([value.detach().float() for value in (out, *gradients)])
    tolerance = TOLERANCES.get(dtype, TOLERANCES[torch.float32])
    try:
        torch.testing.assert_close(results[0], results[1], rtol=tolerance, atol=tolerance)
    except AssertionError as error:
        return " ".join(str(error).split())
    return None
