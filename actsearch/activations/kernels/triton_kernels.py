"""Triton kernels for LayerAct, ANAct and APALU (see :mod:`actsearch.activations.kernels.triton_launch`, which launches
them). Triton resolves the helpers a kernel calls among its module's globals, hence this module, imported only
where Triton is."""

import triton
import triton.language as tl


@triton.jit
def gate_of(normalized, HARD: tl.constexpr):
    if HARD:
        return tl.minimum(tl.maximum(normalized * (1.0 / 6.0) + 0.5, 0.0), 1.0)
    return tl.sigmoid(normalized)


@triton.jit
def slope_of(normalized, HARD: tl.constexpr):
    if HARD:
        return tl.where((normalized > -3.0) & (normalized < 3.0), 1.0 / 6.0, 0.0)
    g = tl.sigmoid(normalized)
    return g * (1.0 - g)


@triton.jit
def layeract_forward_kernel(x_ptr, out_ptr, mean_ptr, rstd_ptr, m, alpha, HARD: tl.constexpr, BLOCK: tl.constexpr):
    """One program per sample of ``m <= BLOCK`` elements, read once: its mean and rstd (statistics in float32
    after a shift by the sample's first element), and ``out = x * gate((x - mean) * rstd)``."""
    sample = tl.program_id(0).to(tl.int64)
    base = sample * m
    offsets = tl.arange(0, BLOCK)
    inside = offsets < m
    shift = tl.load(x_ptr + base).to(tl.float32)
    x = tl.load(x_ptr + base + offsets, mask=inside, other=0.0).to(tl.float32)
    d = tl.where(inside, x - shift, 0.0)
    total = tl.sum(d, axis=0)
    offset = total / m
    mean = shift + offset
    rstd = 1.0 / tl.sqrt((tl.sum(d * d, axis=0) - total * offset) / (m - 1) + alpha)
    tl.store(mean_ptr + sample, mean)
    tl.store(rstd_ptr + sample, rstd)
    out = x * gate_of((x - mean) * rstd, HARD)
    tl.store(out_ptr + base + offsets, out.to(out_ptr.dtype.element_ty), mask=inside)


@triton.jit
def layeract_backward_kernel(x_ptr, grad_ptr, mean_ptr, rstd_ptr, grad_in_ptr, m, HARD: tl.constexpr,
                             BLOCK: tl.constexpr, CHUNKS: tl.constexpr):
    """One program per sample of ``m <= BLOCK * CHUNKS`` elements:
    grad_in = grad * g + r (h - mean(h)) - k (x - mu), h = grad * x * g'(n), k = r^3 sum(h (x - mu)) / (m - 1).
    With one chunk each input is read once; a larger sample would not fit in registers (ptxas spills), so it is
    read in CHUNKS blocks twice: once for the sums, once for the result (the second read mostly from L2)."""
    sample = tl.program_id(0).to(tl.int64)
    base = sample * m
    offsets = tl.arange(0, BLOCK)
    mean = tl.load(mean_ptr + sample)
    rstd = tl.load(rstd_ptr + sample)
    if CHUNKS == 1:
        inside = offsets < m
        x = tl.load(x_ptr + base + offsets, mask=inside, other=0.0).to(tl.float32)
        grad = tl.load(grad_ptr + base + offsets, mask=inside, other=0.0).to(tl.float32)
        centered = x - mean
        h = grad * x * slope_of(centered * rstd, HARD)
        k = rstd * rstd * rstd * tl.sum(h * centered, axis=0) / (m - 1)
        mean_h = tl.sum(h, axis=0) / m
        grad_in = grad * gate_of(centered * rstd, HARD) + rstd * (h - mean_h) - k * centered
        tl.store(grad_in_ptr + base + offsets, grad_in.to(grad_in_ptr.dtype.element_ty), mask=inside)
    else:
        sum_h = tl.zeros([BLOCK], dtype=tl.float32)
        sum_h_centered = tl.zeros([BLOCK], dtype=tl.float32)
        for chunk in tl.static_range(CHUNKS):
            at = chunk * BLOCK + offsets
            x = tl.load(x_ptr + base + at, mask=at < m, other=0.0).to(tl.float32)
            grad = tl.load(grad_ptr + base + at, mask=at < m, other=0.0).to(tl.float32)
            h = grad * x * slope_of((x - mean) * rstd, HARD)
            sum_h += h
            sum_h_centered += h * (x - mean)
        k = rstd * rstd * rstd * tl.sum(sum_h_centered, axis=0) / (m - 1)
        mean_h = tl.sum(sum_h, axis=0) / m
        for chunk in tl.static_range(CHUNKS):
            at = chunk * BLOCK + offsets
            x = tl.load(x_ptr + base + at, mask=at < m, other=0.0).to(tl.float32)
            grad = tl.load(grad_ptr + base + at, mask=at < m, other=0.0).to(tl.float32)
            centered = x - mean
            normalized = centered * rstd
            h = grad * x * slope_of(normalized, HARD)
            grad_in = grad * gate_of(normalized, HARD) + rstd * (h - mean_h) - k * centered
            tl.store(grad_in_ptr + base + at, grad_in.to(grad_in_ptr.dtype.element_ty), mask=at < m)


# Samples larger than a block are cut into blocks, one program each (program p: sample p // blocks, block
# p % blocks, on the grid's first axis, the only one that may exceed 65,535), so that a few large samples still
# fill the GPU: one kernel takes each block's partial sums, PyTorch adds them up per sample (in float64), and
# a second kernel does the elementwise part.
@triton.jit
def sample_block(m, BLOCK: tl.constexpr):
    """``(sample, offsets of this program's block in memory, mask of those inside the sample)``."""
    program = tl.program_id(0).to(tl.int64)
    blocks = tl.cdiv(m, BLOCK)
    sample = program // blocks
    within = (program % blocks) * BLOCK + tl.arange(0, BLOCK)
    return sample, sample * m + within, within < m


@triton.jit
def layeract_block_sums_kernel(x_ptr, sums_ptr, m, BLOCK: tl.constexpr):
    """``sums[sample, block] = (sum(x - x0), sum((x - x0)^2))``, x0 the sample's first element."""
    sample, offsets, inside = sample_block(m, BLOCK)
    shift = tl.load(x_ptr + sample * m).to(tl.float32)
    d = tl.where(inside, tl.load(x_ptr + offsets, mask=inside, other=0.0).to(tl.float32) - shift, 0.0)
    slot = tl.program_id(0).to(tl.int64) * 2
    tl.store(sums_ptr + slot, tl.sum(d, axis=0))
    tl.store(sums_ptr + slot + 1, tl.sum(d * d, axis=0))


@triton.jit
def layeract_gate_kernel(x_ptr, out_ptr, mean_ptr, rstd_ptr, m, HARD: tl.constexpr, BLOCK: tl.constexpr):
    sample, offsets, inside = sample_block(m, BLOCK)
    x = tl.load(x_ptr + offsets, mask=inside, other=0.0).to(tl.float32)
    out = x * gate_of((x - tl.load(mean_ptr + sample)) * tl.load(rstd_ptr + sample), HARD)
    tl.store(out_ptr + offsets, out.to(out_ptr.dtype.element_ty), mask=inside)


@triton.jit
def layeract_backward_block_sums_kernel(x_ptr, grad_ptr, mean_ptr, rstd_ptr, sums_ptr, m, HARD: tl.constexpr,
                                        BLOCK: tl.constexpr):
    """``sums[sample, block] = (sum(h), sum(h (x - mu)))`` with h = grad * x * g'(n)."""
    sample, offsets, inside = sample_block(m, BLOCK)
    mean = tl.load(mean_ptr + sample)
    x = tl.load(x_ptr + offsets, mask=inside, other=0.0).to(tl.float32)
    grad = tl.load(grad_ptr + offsets, mask=inside, other=0.0).to(tl.float32)
    centered = x - mean
    h = grad * x * slope_of(centered * tl.load(rstd_ptr + sample), HARD)
    slot = tl.program_id(0).to(tl.int64) * 2
    tl.store(sums_ptr + slot, tl.sum(h, axis=0))
    tl.store(sums_ptr + slot + 1, tl.sum(h * centered, axis=0))


@triton.jit
def layeract_backward_apply_kernel(x_ptr, grad_ptr, mean_ptr, rstd_ptr, k_ptr, mean_h_ptr, grad_in_ptr, m,
                                   HARD: tl.constexpr, BLOCK: tl.constexpr):
    sample, offsets, inside = sample_block(m, BLOCK)
    mean = tl.load(mean_ptr + sample)
    rstd = tl.load(rstd_ptr + sample)
    x = tl.load(x_ptr + offsets, mask=inside, other=0.0).to(tl.float32)
    grad = tl.load(grad_ptr + offsets, mask=inside, other=0.0).to(tl.float32)
    centered = x - mean
    normalized = centered * rstd
    h = grad * x * slope_of(normalized, HARD)
    grad_in = (grad * gate_of(normalized, HARD) + rstd * (h - tl.load(mean_h_ptr + sample))
               - tl.load(k_ptr + sample) * centered)
    tl.store(grad_in_ptr + offsets, grad_in.to(grad_in_ptr.dtype.element_ty), mask=inside)


# ------------------------------------------------------------------------------------------------ ANAct
# Bases by kind, as ANACT_KINDS numbers them in actsearch.activations.kernels; p is LeakyReLU's slope.
@triton.jit
def base_value(x, p, KIND: tl.constexpr):
    if KIND == 0:
        return tl.where(x < 0.0, 0.0, x)
    if KIND == 1:
        return tl.where(x < 0.0, p * x, x)
    if KIND == 2:
        return x * tl.sigmoid(x)
    if KIND == 3:
        return x * tl.minimum(tl.maximum(x + 3.0, 0.0), 6.0) * (1.0 / 6.0)
    if KIND == 4:
        return x * (0.5 + 0.5 * tl.erf(x * 0.7071067811865476))
    u = 0.7978845608028654 * (x + 0.044715 * x * x * x)
    return x * tl.sigmoid(2.0 * u)  # 0.5 x (1 + tanh(u)) = x sigmoid(2u)


@triton.jit
def base_slope(x, p, KIND: tl.constexpr):
    if KIND == 0:
        return tl.where(x > 0.0, 1.0, 0.0)
    if KIND == 1:
        return tl.where(x > 0.0, 1.0, p)
    if KIND == 2:
        s = tl.sigmoid(x)
        return s * (1.0 + x * (1.0 - s))
    if KIND == 3:
        return tl.where(x < -3.0, 0.0, tl.where(x <= 3.0, x * (1.0 / 3.0) + 0.5, 1.0))
    if KIND == 4:
        return 0.5 + 0.5 * tl.erf(x * 0.7071067811865476) + x * 0.3989422804014327 * tl.exp(-0.5 * x * x)
    u = 0.7978845608028654 * (x + 0.044715 * x * x * x)
    s = tl.sigmoid(2.0 * u)  # (1 + tanh(u)) / 2
    return s + 2.0 * x * s * (1.0 - s) * 0.7978845608028654 * (1.0 + 0.134145 * x * x)


@triton.jit
def channel_tile(channels, inner, stride_outer, stride_channel, stride_inner, BLOCK_C: tl.constexpr,
                 BLOCK_I: tl.constexpr):
    """This program's tile of BLOCK_C channels x BLOCK_I inner positions of one outer index, over the grid
    (outer x inner tiles, channel tiles) (program p of the first axis, the only one that may exceed 65,535: outer
    index p // inner tiles, inner tile p % inner tiles): its channels, the mask of its elements that exist and
    their offsets; the strides place element (outer, channel, inner) in memory."""
    program = tl.program_id(0).to(tl.int64)
    tiles = tl.cdiv(inner, BLOCK_I)
    i = (program % tiles) * BLOCK_I + tl.arange(0, BLOCK_I)  # per layer: the whole tensor
    c = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    inside = (c < channels)[:, None] & (i < inner)[None, :]
    offsets = (program // tiles) * stride_outer + c[:, None].to(tl.int64) * stride_channel + i[None, :] * stride_inner
    return c, inside, offsets


@triton.jit
def anact_forward_kernel(x_ptr, out_ptr, scale_ptr, shift_ptr, channels, inner, stride_outer, stride_channel,
                         stride_inner, p, KIND: tl.constexpr, BLOCK_C: tl.constexpr, BLOCK_I: tl.constexpr):
    """``out = f(x) * scale[c] - shift[c]`` over one channel_tile."""
    c, inside, offsets = channel_tile(channels, inner, stride_outer, stride_channel, stride_inner, BLOCK_C, BLOCK_I)
    x = tl.load(x_ptr + offsets, mask=inside, other=0.0).to(tl.float32)
    scale = tl.load(scale_ptr + c, mask=c < channels, other=0.0)
    shift = tl.load(shift_ptr + c, mask=c < channels, other=0.0)
    out = base_value(x, p, KIND) * scale[:, None] - shift[:, None]
    tl.store(out_ptr + offsets, out.to(out_ptr.dtype.element_ty), mask=inside)


@triton.jit
def anact_backward_kernel(x_ptr, grad_ptr, grad_x_ptr, scale_ptr, sums_ptr, channels, inner, stride_outer,
                          stride_channel, stride_inner, p, KIND: tl.constexpr, INPUT_GRADIENT: tl.constexpr,
                          SUMS: tl.constexpr, BLOCK_C: tl.constexpr, BLOCK_I: tl.constexpr):
    """``grad_x = grad * f'(x) * scale[c]`` and, with SUMS, this tile's per-channel sums of ``grad * f(x)`` and
    ``grad`` at ``sums[outer, inner tile, 0 or 1, c]`` (added up by the caller, in a fixed order)."""
    c, inside, offsets = channel_tile(channels, inner, stride_outer, stride_channel, stride_inner, BLOCK_C, BLOCK_I)
    x = tl.load(x_ptr + offsets, mask=inside, other=0.0).to(tl.float32)
    grad = tl.load(grad_ptr + offsets, mask=inside, other=0.0).to(tl.float32)
    if INPUT_GRADIENT:
        scale = tl.load(scale_ptr + c, mask=c < channels, other=0.0)
        grad_x = grad * base_slope(x, p, KIND) * scale[:, None]
        tl.store(grad_x_ptr + offsets, grad_x.to(grad_x_ptr.dtype.element_ty), mask=inside)
    if SUMS:
        slot = tl.program_id(0).to(tl.int64) * 2 * channels  # (outer, inner tile) in row-major order
        weighted = tl.sum(tl.where(inside, grad * base_value(x, p, KIND), 0.0), axis=1)
        tl.store(sums_ptr + slot + c, weighted, mask=c < channels)
        tl.store(sums_ptr + slot + channels + c, tl.sum(grad, axis=1), mask=c < channels)


# ------------------------------------------------------------------------------------------------ APALU
@triton.jit
def apalu_parts(x):
    """``(P, N, P', N')`` with APALU = a P + b N: P = x + x sigmoid(1.702 x) for x >= 0, N = exp(x) - 1 below."""
    positive = x >= 0.0
    z = tl.where(positive, x, 0.0) * 1.702
    s = tl.sigmoid(z)
    e = tl.exp(tl.minimum(x, 0.0))
    part_p = tl.where(positive, x + x * s, 0.0)
    part_n = tl.where(positive, 0.0, e - 1.0)
    slope_p = tl.where(positive, 1.0 + s * (1.0 + z * (1.0 - s)), 0.0)
    slope_n = tl.where(positive, 0.0, e)
    return part_p, part_n, slope_p, slope_n


@triton.jit
def apalu_forward_kernel(x_ptr, out_ptr, a_ptr, b_ptr, channels, inner, stride_outer, stride_channel, stride_inner,
                         BLOCK_C: tl.constexpr, BLOCK_I: tl.constexpr):
    """``out = a[c] P(x) + b[c] N(x)`` over one channel_tile."""
    c, inside, offsets = channel_tile(channels, inner, stride_outer, stride_channel, stride_inner, BLOCK_C, BLOCK_I)
    x = tl.load(x_ptr + offsets, mask=inside, other=0.0).to(tl.float32)
    a = tl.load(a_ptr + c, mask=c < channels, other=0.0)
    b = tl.load(b_ptr + c, mask=c < channels, other=0.0)
    part_p, part_n, _, _ = apalu_parts(x)
    out = a[:, None] * part_p + b[:, None] * part_n
    tl.store(out_ptr + offsets, out.to(out_ptr.dtype.element_ty), mask=inside)


@triton.jit
def apalu_backward_kernel(x_ptr, grad_ptr, grad_x_ptr, a_ptr, b_ptr, sums_ptr, channels, inner, stride_outer,
                          stride_channel, stride_inner, INPUT_GRADIENT: tl.constexpr, SUMS: tl.constexpr,
                          BLOCK_C: tl.constexpr, BLOCK_I: tl.constexpr):
    """``grad_x = grad (a P' + b N')`` and, with SUMS, this tile's per-channel sums of ``grad * P`` and
    ``grad * N`` (the gradients of a and b) at ``sums[outer, inner tile, 0 or 1, c]``."""
    c, inside, offsets = channel_tile(channels, inner, stride_outer, stride_channel, stride_inner, BLOCK_C, BLOCK_I)
    x = tl.load(x_ptr + offsets, mask=inside, other=0.0).to(tl.float32)
    grad = tl.load(grad_ptr + offsets, mask=inside, other=0.0).to(tl.float32)
    part_p, part_n, slope_p, slope_n = apalu_parts(x)
    if INPUT_GRADIENT:
        a = tl.load(a_ptr + c, mask=c < channels, other=0.0)
        b = tl.load(b_ptr + c, mask=c < channels, other=0.0)
        grad_x = grad * (a[:, None] * slope_p + b[:, None] * slope_n)
        tl.store(grad_x_ptr + offsets, grad_x.to(grad_x_ptr.dtype.element_ty), mask=inside)
    if SUMS:
        slot = tl.program_id(0).to(tl.int64) * 2 * channels  # (outer, inner tile) in row-major order
        tl.store(sums_ptr + slot + c, tl.sum(grad * part_p, axis=1), mask=c < channels)
        tl.store(sums_ptr + slot + channels + c, tl.sum(grad * part_n, axis=1), mask=c < channels)
