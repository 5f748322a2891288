/* CPU kernels for LayerAct and ANAct (float32, contiguous), compiled on first use by actsearch.activations._native.
 *
 * Eager PyTorch evaluates LayerAct and ANAct as chains of memory-bound passes; these kernels do each direction in
 * one pass over memory. LayerAct works group by group (a group is one sample's statistics window): its extra
 * passes for the statistics then hit the cache, not memory. Accumulations are in double. NaN propagates as in
 * torch's own kernels, so divergence is still seen. Every entry point returns 0, or 1 when scratch memory could
 * not be allocated. Per-thread partial sums are combined in thread order, so results depend on the thread count
 * only through rounding, never on scheduling.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Denormals are flushed inside the kernels: the compiler evaluates clamped lanes of exp_clamped on constants, which
 * gives denormal intermediates that slow every vector several times over (results differ from torch's only below
 * FLT_MIN). */
#if defined(__SSE__)
#include <xmmintrin.h>
#define FLUSH_DENORMALS_BEGIN const unsigned int saved_csr = _mm_getcsr(); _mm_setcsr(saved_csr | 0x8040);
#define FLUSH_DENORMALS_END _mm_setcsr(saved_csr);
#else
#define FLUSH_DENORMALS_BEGIN
#define FLUSH_DENORMALS_END
#endif

#ifdef _OPENMP
#include <omp.h>
static inline int omp_thread_number(void) { return omp_get_thread_num(); }
#else
static inline int omp_thread_number(void) { return 0; }
#endif

/* exp with clamped argument (Cephes expf polynomial, about 1 ulp); written so that the compiler vectorises it. */
static inline float exp_clamped(float x) {
    x = x > -87.0f ? x : -87.0f; /* NaN becomes -87 here; callers multiply by x or grad, which carries it on */
    x = x < 88.0f ? x : 88.0f;
    const float shifter = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer held in the low bits */
    float shifted = x * 1.44269504088896341f + shifter;
    float k = shifted - shifter;
    float r = x - k * 0.693359375f;
    r = r - k * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    int32_t bits;
    memcpy(&bits, &shifted, sizeof bits);
    int32_t scale_bits = (bits - 0x4B400000 + 127) << 23;
    float scale;
    memcpy(&scale, &scale_bits, sizeof scale);
    return p * scale;
}

static inline float sigmoid(float x) { return 1.0f / (1.0f + exp_clamped(-x)); }

static inline float hardsigmoid(float x) {
    float y = x * (1.0f / 6.0f) + 0.5f;
    y = y < 0.0f ? 0.0f : y;
    return y > 1.0f ? 1.0f : y;
}

/* ------------------------------------------------------------------------------------------------ LayerAct */

/* Reductions keep 16 partial sums in four vectors: one running sum would make every addition wait for the last. */
typedef double double4 __attribute__((vector_size(32)));

static inline double4 widen(const float *p) { return (double4){p[0], p[1], p[2], p[3]}; }

static inline double total(const double4 *parts) {
    double4 v = parts[0] + parts[1] + parts[2] + parts[3];
    return (v[0] + v[1]) + (v[2] + v[3]);
}

/* sum(x - shift) and sum((x - shift)^2), in double */
static inline void shifted_sums(const float *x, int64_t m, double shift, double *sum, double *squares) {
    double4 s1[4] = {{0}}, s2[4] = {{0}};
    int64_t i = 0;
    for (; i + 16 <= m; i += 16)
        for (int k = 0; k < 4; k++) {
            double4 d = widen(x + i + 4 * k) - shift;
            s1[k] += d;
            s2[k] += d * d;
        }
    double tail1 = 0.0, tail2 = 0.0;
    for (; i < m; i++) {
        double d = (double)x[i] - shift;
        tail1 += d;
        tail2 += d * d;
    }
    *sum = total(s1) + tail1;
    *squares = total(s2) + tail2;
}

/* sum(a) and sum(a * (b - shift)), in double */
static inline void weighted_sums(const float *a, const float *b, double shift, int64_t m, double *sum,
                                 double *weighted) {
    double4 s1[4] = {{0}}, s2[4] = {{0}};
    int64_t i = 0;
    for (; i + 16 <= m; i += 16)
        for (int k = 0; k < 4; k++) {
            double4 va = widen(a + i + 4 * k);
            s1[k] += va;
            s2[k] += va * (widen(b + i + 4 * k) - shift);
        }
    double tail1 = 0.0, tail2 = 0.0;
    for (; i < m; i++) {
        tail1 += a[i];
        tail2 += (double)a[i] * ((double)b[i] - shift);
    }
    *sum = total(s1) + tail1;
    *weighted = total(s2) + tail2;
}

/* out = x * gate(n), n = (x - mean) * rstd; the sigmoid gate is also stored, for backward */
static void layeract_gate(const float *restrict x, float *restrict out, float *restrict gate, int64_t m, float mean,
                          float rstd, int hard) {
    if (hard) {
#pragma omp simd
        for (int64_t i = 0; i < m; i++) out[i] = x[i] * hardsigmoid((x[i] - mean) * rstd);
    } else {
#pragma omp simd
        for (int64_t i = 0; i < m; i++) {
            float g = sigmoid((x[i] - mean) * rstd);
            gate[i] = g;
            out[i] = x[i] * g;
        }
    }
}

static void layeract_forward_group(const float *x, float *out, float *gate, float *mean_out, float *rstd_out,
                                   int64_t m, float alpha, int hard) {
    /* shifted by the first element, the one-pass variance does not cancel */
    double sum, squares;
    shifted_sums(x, m, x[0], &sum, &squares);
    const double offset = sum / (double)m;
    const float mean = (float)(x[0] + offset);
    const float rstd = (float)(1.0 / sqrt((squares - sum * offset) / (double)(m - 1) + (double)alpha));
    layeract_gate(x, out, gate, m, mean, rstd, hard);
    *mean_out = mean;
    *rstd_out = rstd;
}

/* grad_in = grad * g + r (h - mean(h)) - k (x - mu), h = grad * x * g'(n), k = r^3 sum(h (x - mu)) / (m - 1).
 * The first pass puts h in grad_in, which stays in cache for the sums and the second pass. (No heap memory here:
 * malloc and free between the large tensors' allocations make glibc return and re-fault their pages.) */
static void layeract_backward_group(const float *restrict x, const float *restrict gate, const float *restrict grad,
                                    float mean, float rstd, float *restrict grad_in, int64_t m, int hard) {
    if (hard) {
#pragma omp simd
        for (int64_t i = 0; i < m; i++) {
            float n = (x[i] - mean) * rstd;
            float slope = (n > -3.0f && n < 3.0f) ? (1.0f / 6.0f) : 0.0f;
            grad_in[i] = grad[i] * x[i] * slope;
        }
    } else {
#pragma omp simd
        for (int64_t i = 0; i < m; i++) grad_in[i] = grad[i] * x[i] * (gate[i] * (1.0f - gate[i]));
    }
    double sum_h, sum_h_centered;
    weighted_sums(grad_in, x, mean, m, &sum_h, &sum_h_centered);
    const float k = (float)((double)rstd * rstd * rstd * sum_h_centered / (double)(m - 1));
    const float mean_h = (float)(sum_h / (double)m);
    if (hard) {
#pragma omp simd
        for (int64_t i = 0; i < m; i++) {
            float centered = x[i] - mean;
            grad_in[i] = grad[i] * hardsigmoid(centered * rstd) + rstd * (grad_in[i] - mean_h) - k * centered;
        }
    } else {
#pragma omp simd
        for (int64_t i = 0; i < m; i++)
            grad_in[i] = grad[i] * gate[i] + rstd * (grad_in[i] - mean_h) - k * (x[i] - mean);
    }
}

/* gate: where the sigmoid gate is stored (unused for hard = 1) */
int layeract_forward(const float *x, float *out, float *gate, float *mean, float *rstd, int64_t groups, int64_t m,
                     float alpha, int hard, int threads) {
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
        FLUSH_DENORMALS_BEGIN
#pragma omp for schedule(static)
        for (int64_t g = 0; g < groups; g++)
            layeract_forward_group(x + g * m, out + g * m, hard ? NULL : gate + g * m, mean + g, rstd + g, m, alpha,
                                   hard);
        FLUSH_DENORMALS_END
    }
    return 0;
}

int layeract_backward(const float *x, const float *gate, const float *grad, const float *mean, const float *rstd,
                      float *grad_in, int64_t groups, int64_t m, int hard, int threads) {
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
        FLUSH_DENORMALS_BEGIN
#pragma omp for schedule(static)
        for (int64_t g = 0; g < groups; g++)
            layeract_backward_group(x + g * m, hard ? NULL : gate + g * m, grad + g * m, mean[g], rstd[g],
                                    grad_in + g * m, m, hard);
        FLUSH_DENORMALS_END
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------------ ANAct bases
 * NAME_value(x) = f(x); NAME_both(x) = f(x) and, in *slope, f'(x), sharing their work. `p` is the base's parameter
 * (LeakyReLU's slope). The conventions at the kinks and for NaN follow torch's kernels. */

enum { RELU = 0, LEAKY_RELU = 1, SILU = 2, HARDSILU = 3, GELU = 4, GELU_TANH = 5 };

static inline float relu_value(float x, float p) { (void)p; return x < 0.0f ? 0.0f : x; }
static inline float relu_both(float x, float p, float *slope) {
    *slope = x > 0.0f ? 1.0f : 0.0f;
    return relu_value(x, p);
}

static inline float leaky_relu_value(float x, float p) { return x < 0.0f ? p * x : x; }
static inline float leaky_relu_both(float x, float p, float *slope) {
    *slope = x > 0.0f ? 1.0f : p;
    return leaky_relu_value(x, p);
}

static inline float silu_value(float x, float p) { (void)p; return x * sigmoid(x); }
static inline float silu_both(float x, float p, float *slope) {
    (void)p;
    float s = sigmoid(x);
    *slope = s * (1.0f + x * (1.0f - s));
    return x * s;
}

static inline float hardsilu_value(float x, float p) {
    (void)p;
    float shifted = x + 3.0f;
    shifted = shifted < 0.0f ? 0.0f : shifted;
    shifted = shifted > 6.0f ? 6.0f : shifted;
    return x * shifted * (1.0f / 6.0f);
}
static inline float hardsilu_both(float x, float p, float *slope) {
    *slope = x < -3.0f ? 0.0f : (x <= 3.0f ? x * (1.0f / 3.0f) + 0.5f : 1.0f);
    return hardsilu_value(x, p);
}

/* Phi(x) = erfc(-x / sqrt 2) / 2, with the Chebyshev erfc of Numerical Recipes (relative error < 1.2e-7) */
static inline float normal_cdf(float x) {
    float z = fabsf(x) * 0.70710678118654752f;
    float t = 1.0f / (1.0f + 0.5f * z);
    float poly = -1.26551223f + t * (1.00002368f + t * (0.37409196f + t * (0.09678418f + t * (-0.18628806f +
                 t * (0.27886807f + t * (-1.13520398f + t * (1.48851587f + t * (-0.82215223f + t * 0.17087277f))))))));
    float upper_tail = 0.5f * t * exp_clamped(-z * z + poly); /* Phi(-|x|) */
    return x < 0.0f ? upper_tail : 1.0f - upper_tail;
}
static inline float gelu_value(float x, float p) { (void)p; return x * normal_cdf(x); }
static inline float gelu_both(float x, float p, float *slope) {
    (void)p;
    float cdf = normal_cdf(x);
    *slope = cdf + x * 0.39894228040143268f * exp_clamped(-0.5f * x * x);
    return x * cdf;
}

static inline float tanh_clamped(float u) { return 1.0f - 2.0f / (exp_clamped(2.0f * u) + 1.0f); }
static inline float gelu_tanh_value(float x, float p) {
    (void)p;
    return 0.5f * x * (1.0f + tanh_clamped(0.79788456080286536f * (x + 0.044715f * x * x * x)));
}
static inline float gelu_tanh_both(float x, float p, float *slope) {
    (void)p;
    float t = tanh_clamped(0.79788456080286536f * (x + 0.044715f * x * x * x));
    *slope = 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * 0.79788456080286536f * (1.0f + 0.134145f * x * x);
    return 0.5f * x * (1.0f + t);
}

/* ------------------------------------------------------------------------------------------------ ANAct
 * The input is `outer` rows of `inner` elements, row r in channel r % channels. With one channel (per-layer scale)
 * the work is cut into segments of SEGMENT elements instead, whatever the rows, so short rows cost nothing extra
 * and the scratch of a segment stays in the L1 cache. */

#define SEGMENT 4096

typedef struct {
    int64_t count, channels, inner, total;
} Layout;

static inline Layout layout_of(int64_t outer, int64_t channels, int64_t inner) {
    Layout layout = {channels == 1 ? (outer * inner + SEGMENT - 1) / SEGMENT : outer * channels, channels, inner,
                     outer * inner * channels};
    return layout;
}

/* start, length and channel of segment s */
static inline int64_t segment_of(const Layout *layout, int64_t s, int64_t *length, int64_t *channel) {
    if (layout->channels == 1) {
        int64_t start = s * SEGMENT;
        *length = layout->total - start < SEGMENT ? layout->total - start : SEGMENT;
        *channel = 0;
        return start;
    }
    *length = layout->inner;
    *channel = s % layout->channels;
    return s * layout->inner;
}

/* sum(a) and sum(b), in double */
static inline void pair_sums(const float *a, const float *b, int64_t m, double *sum_a, double *sum_b) {
    double4 s1[4] = {{0}}, s2[4] = {{0}};
    int64_t i = 0;
    for (; i + 16 <= m; i += 16)
        for (int k = 0; k < 4; k++) {
            s1[k] += widen(a + i + 4 * k);
            s2[k] += widen(b + i + 4 * k);
        }
    double tail1 = 0.0, tail2 = 0.0;
    for (; i < m; i++) tail1 += a[i], tail2 += b[i];
    *sum_a = total(s1) + tail1;
    *sum_b = total(s2) + tail2;
}

#define ANACT_FORWARD(NAME)                                                                                        \
    static void anact_forward_##NAME(const float *x, float *out, const float *scale, const float *shift,           \
                                     Layout layout, float p, int threads) {                                         \
        _Pragma("omp parallel num_threads(threads) if (threads > 1)")                                             \
        {                                                                                                           \
            FLUSH_DENORMALS_BEGIN                                                                                   \
            _Pragma("omp for schedule(static)")                                                                     \
            for (int64_t s = 0; s < layout.count; s++) {                                                            \
                int64_t length, c;                                                                                  \
                const int64_t start = segment_of(&layout, s, &length, &c);                                          \
                const float a = scale[c], b = shift[c];                                                             \
                const float *restrict xs = x + start;                                                               \
                float *restrict os = out + start;                                                                   \
                _Pragma("omp simd")                                                                                 \
                for (int64_t i = 0; i < length; i++) os[i] = NAME##_value(xs[i], p) * a - b;                         \
            }                                                                                                       \
            FLUSH_DENORMALS_END                                                                                     \
        }                                                                                                           \
    }

/* Over a span of `length` elements in one channel (scale a): grad_x = grad * f'(x) * a unless grad_x is NULL, and,
 * when weighted is not NULL, weighted += sum(grad * f(x)) and plain += sum(grad). The products wait in a stack
 * buffer, CHUNK at a time (no heap memory in the kernels: malloc and free between the large tensors' allocations
 * make glibc return and re-fault their pages). */
#define CHUNK 1024
#define ANACT_BACKWARD_SPAN(NAME)                                                                                  \
    static inline void anact_backward_span_##NAME(const float *restrict xs, const float *restrict gs,              \
                                                  float *restrict gxs, float a, float p, int64_t length,            \
                                                  double *weighted, double *plain) {                                \
        if (!weighted) {                                                                                            \
            _Pragma("omp simd")                                                                                     \
            for (int64_t i = 0; i < length; i++) {                                                                  \
                float slope;                                                                                        \
                NAME##_both(xs[i], p, &slope);                                                                      \
                gxs[i] = gs[i] * slope * a;                                                                         \
            }                                                                                                       \
            return;                                                                                                 \
        }                                                                                                           \
        float scratch[CHUNK];                                                                                       \
        for (int64_t begin = 0; begin < length; begin += CHUNK) {                                                   \
            const int64_t n = length - begin < CHUNK ? length - begin : CHUNK;                                      \
            const float *restrict xc = xs + begin, *restrict gc = gs + begin;                                       \
            if (gxs) {                                                                                              \
                float *restrict gxc = gxs + begin;                                                                  \
                _Pragma("omp simd")                                                                                 \
                for (int64_t i = 0; i < n; i++) {                                                                   \
                    float slope;                                                                                    \
                    float value = NAME##_both(xc[i], p, &slope);                                                    \
                    gxc[i] = gc[i] * slope * a;                                                                     \
                    scratch[i] = gc[i] * value;                                                                     \
                }                                                                                                   \
            } else {                                                                                                \
                _Pragma("omp simd")                                                                                 \
                for (int64_t i = 0; i < n; i++) scratch[i] = gc[i] * NAME##_value(xc[i], p);                        \
            }                                                                                                       \
            double w, g;                                                                                            \
            pair_sums(scratch, gc, n, &w, &g);                                                                      \
            *weighted += w;                                                                                         \
            *plain += g;                                                                                            \
        }                                                                                                           \
    }

/* grad_x = grad * f'(x) * scale (skipped when NULL) and, when grad_beta is not NULL, per channel
 * grad_beta = sum(grad * (f(x) - mean)) * d scale / d beta, from the coefficients of anact_prepare. Per-channel sums
 * are split over threads by channel; one channel's over threads by segment, into per-thread slots added up in
 * thread order: results depend on the thread count only through rounding, never on scheduling. */
#define MAX_PARTS 256
#define ANACT_BACKWARD(NAME)                                                                                       \
    static void anact_backward_##NAME(const float *x, const float *grad, float *grad_x, const float *coefficients,  \
                                      float *grad_beta, Layout layout, float p, int threads) {                      \
        const int64_t channels = layout.channels;                                                                   \
        const float *scale = coefficients, *mean = coefficients + 2 * channels, *dscale = coefficients + 3 * channels; \
        if (grad_beta && channels > 1) {                                                                            \
            _Pragma("omp parallel num_threads(threads) if (threads > 1)")                                         \
            {                                                                                                       \
                FLUSH_DENORMALS_BEGIN                                                                               \
                _Pragma("omp for schedule(static)")                                                                 \
                for (int64_t c = 0; c < channels; c++) {                                                            \
                    double weighted = 0.0, plain = 0.0;                                                             \
                    for (int64_t row = c; row < layout.count; row += channels) {                                    \
                        const int64_t start = row * layout.inner;                                                   \
                        anact_backward_span_##NAME(x + start, grad + start, grad_x ? grad_x + start : NULL,         \
                                                   scale[c], p, layout.inner, &weighted, &plain);                   \
                    }                                                                                               \
                    grad_beta[c] = (float)((weighted - mean[c] * plain) * dscale[c]);                               \
                }                                                                                                   \
                FLUSH_DENORMALS_END                                                                                 \
            }                                                                                                       \
            return;                                                                                                 \
        }                                                                                                           \
        const int parts = threads < 1 ? 1 : (threads > MAX_PARTS ? MAX_PARTS : threads);                           \
        double partial[2 * MAX_PARTS] = {0};                                                                        \
        _Pragma("omp parallel num_threads(parts) if (parts > 1)")                                                   \
        {                                                                                                           \
            FLUSH_DENORMALS_BEGIN                                                                                   \
            double *own = partial + 2 * omp_thread_number();                                                        \
            _Pragma("omp for schedule(static)")                                                                     \
            for (int64_t s = 0; s < layout.count; s++) {                                                            \
                int64_t length, c;                                                                                  \
                const int64_t start = segment_of(&layout, s, &length, &c);                                          \
                anact_backward_span_##NAME(x + start, grad + start, grad_x ? grad_x + start : NULL, scale[c], p,    \
                                           length, grad_beta ? own : NULL, own + 1);                                \
            }                                                                                                       \
            FLUSH_DENORMALS_END                                                                                     \
        }                                                                                                           \
        if (grad_beta) {                                                                                            \
            double weighted = 0.0, plain = 0.0;                                                                     \
            for (int t = 0; t < parts; t++) weighted += partial[2 * t], plain += partial[2 * t + 1];               \
            grad_beta[0] = (float)((weighted - mean[0] * plain) * dscale[0]);                                       \
        }                                                                                                           \
    }

/* For channel c: sums[0 .. 4] = sum x, sum x^2, sum f(x), sum f(x)^2, sum f'(x)^2 (single-threaded: it runs on a
 * sample of the batch) */
#define ANACT_STATISTICS(NAME)                                                                                     \
    static void anact_statistics_##NAME(const float *x, Layout layout, float p, int64_t c, double *sums) {        \
        double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0, s4 = 0.0;                                                    \
        const int64_t step = layout.channels == 1 ? 1 : layout.channels;                                           \
        for (int64_t s = layout.channels == 1 ? 0 : c; s < layout.count; s += step) {                               \
            int64_t length, channel;                                                                                \
            const float *xs = x + segment_of(&layout, s, &length, &channel);                                        \
            _Pragma("omp simd reduction(+ : s0, s1, s2, s3, s4)")                                                   \
            for (int64_t i = 0; i < length; i++) {                                                                  \
                float v = xs[i], d;                                                                                 \
                float f = NAME##_both(v, p, &d);                                                                    \
                s0 += v;                                                                                            \
                s1 += v * v;                                                                                        \
                s2 += f;                                                                                            \
                s3 += f * f;                                                                                        \
                s4 += d * d;                                                                                        \
            }                                                                                                       \
        }                                                                                                           \
        sums[0] = s0, sums[1] = s1, sums[2] = s2, sums[3] = s3, sums[4] = s4;                                       \
    }

#define ANACT_KERNELS(NAME) ANACT_FORWARD(NAME) ANACT_BACKWARD_SPAN(NAME) ANACT_BACKWARD(NAME) ANACT_STATISTICS(NAME)
ANACT_KERNELS(relu)
ANACT_KERNELS(leaky_relu)
ANACT_KERNELS(silu)
ANACT_KERNELS(hardsilu)
ANACT_KERNELS(gelu)
ANACT_KERNELS(gelu_tanh)

#define FOR_EACH_BASE(CALL, ...)                                                                                   \
    switch (kind) {                                                                                                \
    case RELU: CALL(relu, __VA_ARGS__); break;                                                                     \
    case LEAKY_RELU: CALL(leaky_relu, __VA_ARGS__); break;                                                         \
    case SILU: CALL(silu, __VA_ARGS__); break;                                                                     \
    case HARDSILU: CALL(hardsilu, __VA_ARGS__); break;                                                             \
    case GELU: CALL(gelu, __VA_ARGS__); break;                                                                     \
    case GELU_TANH: CALL(gelu_tanh, __VA_ARGS__); break;                                                           \
    default: return 2;                                                                                             \
    }

#define CALL_FORWARD(NAME, ...) anact_forward_##NAME(__VA_ARGS__)
#define CALL_BACKWARD(NAME, ...) anact_backward_##NAME(__VA_ARGS__)
#define CALL_STATISTICS(NAME, ...) anact_statistics_##NAME(__VA_ARGS__)

/* ANAct's state before a pass, per channel c of `channels`. In training (`sample` not NULL), first the running
 * estimates rho (forward gain E[f(x)^2] / Var(x), the variance floored at variance_floor), rho' (backward gain
 * E[f'(x)^2]) and mean (E[f(x)]) move towards the sample's (`sample_outer` rows of `inner`; weight 1 for the first
 * batch, else 1 - momentum) and `batches` counts one more; the buffers are written in place, as BatchNorm's running
 * statistics are, and never saved for backward. Then the coefficients, a snapshot for the pass: out[c] = scale =
 * lambda + 0.3 tanh(beta) with lambda = sqrt((rho + rho') / (2 rho rho')) and both gains floored at gain_floor;
 * out[C + c] = scale * mean; out[2C + c] = mean; out[3C + c] = d scale / d beta. beta may be NULL (not learnable),
 * and with subtract_mean = 0 the mean counts as 0. */
int anact_prepare(int kind, const float *sample, int64_t sample_outer, int64_t channels, int64_t inner, float p,
                  float *rho, float *rho_prime, float *mean, int64_t *batches, double momentum, double variance_floor,
                  const float *beta, int subtract_mean, double gain_floor, float *out) {
    if (kind < RELU || kind > GELU_TANH) return 2;
    if (sample) {
        FLUSH_DENORMALS_BEGIN
        const Layout layout = layout_of(sample_outer, channels, inner);
        const double count = (double)(sample_outer * inner);
        const double weight = *batches == 0 ? 1.0 : 1.0 - momentum;
        for (int64_t c = 0; c < channels; c++) {
            double sums[5];
            FOR_EACH_BASE(CALL_STATISTICS, sample, layout, p, c, sums)
            double mean_x = sums[0] / count;
            double variance = sums[1] / count - mean_x * mean_x;
            double estimates[3] = {sums[3] / count / (variance > variance_floor ? variance : variance_floor),
                                   sums[4] / count, sums[2] / count};
            float *running[3] = {rho + c, rho_prime + c, mean + c};
            for (int k = 0; k < 3; k++) *running[k] = (float)(*running[k] + weight * (estimates[k] - *running[k]));
        }
        *batches += 1;
        FLUSH_DENORMALS_END
    }
    for (int64_t c = 0; c < channels; c++) {
        double forward = rho[c] > gain_floor ? rho[c] : gain_floor;
        double backward = rho_prime[c] > gain_floor ? rho_prime[c] : gain_floor;
        double lambda = sqrt((forward + backward) / (2.0 * forward * backward));
        double learned = beta ? tanh((double)beta[c]) : 0.0;
        double scale = lambda + 0.3 * learned;
        double mu = subtract_mean ? mean[c] : 0.0;
        out[c] = (float)scale;
        out[channels + c] = (float)(scale * mu);
        out[2 * channels + c] = (float)mu;
        out[3 * channels + c] = (float)(0.3 * (1.0 - learned * learned));
    }
    return 0;
}

/* out = f(x) * scale - shift, per channel, with the coefficients of anact_prepare */
int anact_forward(int kind, const float *x, float *out, const float *coefficients, int64_t outer, int64_t channels,
                  int64_t inner, float p, int threads) {
    FOR_EACH_BASE(CALL_FORWARD, x, out, coefficients, coefficients + channels, layout_of(outer, channels, inner), p,
                  threads)
    return 0;
}

/* grad_x (skipped when NULL) and grad_beta (skipped when NULL): see ANACT_BACKWARD */
int anact_backward(int kind, const float *x, const float *grad, float *grad_x, const float *coefficients,
                   float *grad_beta, int64_t outer, int64_t channels, int64_t inner, float p, int threads) {
    FOR_EACH_BASE(CALL_BACKWARD, x, grad, grad_x, coefficients, grad_beta, layout_of(outer, channels, inner), p,
                  threads)
    return 0;
}
