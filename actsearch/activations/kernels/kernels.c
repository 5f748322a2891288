/* CPU kernels for LayerAct, ANAct and APALU (float32, dense: contiguous or channels-last), compiled on first use by
 * actsearch.activations.kernels.c_library and called by actsearch.activations.kernels.cpu.
 *
 * Eager PyTorch evaluates LayerAct and ANAct as chains of memory-bound passes; these kernels do each direction in
 * one pass over memory. LayerAct works group by group (a group is one sample's statistics window): its extra passes
 * for the statistics then hit the cache, not memory. Its forward keeps the sigmoid gate for backward, which then
 * takes no exp. Reductions are summed in float over short blocks (vector lanes, at most 256 elements) and across
 * blocks in double (LayerAct's forward statistics after a shift by the sample's first element). With AVX2 and FMA,
 * LayerAct's hot loops use intrinsics; every other loop is plain C that the compiler vectorises. A NaN
 * input still reaches the output (it may leave fewer elements NaN than torch would), so divergence is seen. Entry
 * points return 0, or 2 for an unknown ANAct base. Per-thread partial sums are combined in thread order, so results
 * depend on the thread count only through rounding, never on scheduling. No heap memory is taken: malloc and free
 * between the large tensors' allocations make glibc return their pages to the system and fault them in again.
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

/* With AVX2 and FMA, LayerAct's sigmoid loop uses an exp written with intrinsics: the compiler turns exp_clamped's
 * clamps into compare-and-blend chains that cost a third of the loop; min and max do it in two. With FMA, one
 * constant reduces the argument exactly enough, and a degree-6 polynomial (fitted for this file) is within 1 ulp. */
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define SIMD_WIDTH 8

/* 1 / (1 + exp(t)), that is sigmoid(-t) */
static inline __m256 inverse_one_plus_exp8(__m256 t) {
    /* NaN becomes -87 here, as in exp_clamped */
    t = _mm256_min_ps(_mm256_max_ps(t, _mm256_set1_ps(-87.0f)), _mm256_set1_ps(88.0f));
    const __m256 shifter = _mm256_set1_ps(12582912.0f);
    const __m256 shifted = _mm256_fmadd_ps(t, _mm256_set1_ps(1.44269504088896341f), shifter);
    const __m256 k = _mm256_sub_ps(shifted, shifter);
    const __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693147180559945309f), t);
    __m256 p = _mm256_set1_ps(1.3814190170e-3f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3689140156e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1668407619e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666519642e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.9999994040e-1f));
    p = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    const __m256i scale = _mm256_slli_epi32(
        _mm256_sub_epi32(_mm256_castps_si256(shifted), _mm256_set1_epi32(0x4B400000 - 127)), 23);
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 denominator = _mm256_fmadd_ps(p, _mm256_castsi256_ps(scale), one);
    /* the 12-bit estimate of 1 / denominator and one Newton step (within 2 ulp) cost less than a division */
    const __m256 estimate = _mm256_rcp_ps(denominator);
    return _mm256_fmadd_ps(estimate, _mm256_fnmadd_ps(denominator, estimate, one), estimate);
}

/* the eight lanes of v added pairwise into four doubles */
static inline __m256d widen8(__m256 v) {
    return _mm256_add_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(v)), _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
}

static inline double horizontal_sum(__m256d v) {
    const __m128d pair = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(pair, _mm_unpackhi_pd(pair, pair)));
}
#endif

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

#ifdef SIMD_WIDTH
/* shifted_sums over the leading multiple of 64 elements, in float over 64 elements, then in double; returns how
 * many elements it covered */
static int64_t shifted_sums8(const float *x, int64_t m, float shift, double *sum, double *squares) {
    const __m256 shift8 = _mm256_set1_ps(shift);
    __m256d total_sum = _mm256_setzero_pd(), total_squares = _mm256_setzero_pd();
    const int64_t covered = m / 64 * 64;
    for (int64_t begin = 0; begin < covered; begin += 64) {
        __m256 block_sum[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
        __m256 block_squares[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
        for (int k = 0; k < 8; k++) {
            const __m256 d = _mm256_sub_ps(_mm256_loadu_ps(x + begin + SIMD_WIDTH * k), shift8);
            block_sum[k & 1] = _mm256_add_ps(block_sum[k & 1], d);
            block_squares[k & 1] = _mm256_fmadd_ps(d, d, block_squares[k & 1]);
        }
        total_sum = _mm256_add_pd(total_sum, widen8(_mm256_add_ps(block_sum[0], block_sum[1])));
        total_squares = _mm256_add_pd(total_squares, widen8(_mm256_add_ps(block_squares[0], block_squares[1])));
    }
    *sum = horizontal_sum(total_sum);
    *squares = horizontal_sum(total_squares);
    return covered;
}
#endif

/* sum(x - shift) and sum((x - shift)^2), in double; shift is one of the float inputs */
static inline void shifted_sums(const float *x, int64_t m, float shift, double *sum, double *squares) {
    double4 s1[4] = {{0}}, s2[4] = {{0}};
    double leading_sum = 0.0, leading_squares = 0.0;
    int64_t i = 0;
#ifdef SIMD_WIDTH
    i = shifted_sums8(x, m, shift, &leading_sum, &leading_squares);
#endif
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
    *sum = leading_sum + total(s1) + tail1;
    *squares = leading_squares + total(s2) + tail2;
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

/* out = x * gate(n), n = (x - mean) * rstd; the sigmoid gate is also kept in `gate` for backward, unless NULL */
static void layeract_gate(const float *restrict x, float *restrict out, float *restrict gate, int64_t m, float mean,
                          float rstd, int hard) {
    if (hard) {
#pragma omp simd
        for (int64_t i = 0; i < m; i++) out[i] = x[i] * hardsigmoid((x[i] - mean) * rstd);
    } else {
        int64_t i = 0;
#ifdef SIMD_WIDTH
        const __m256 mean8 = _mm256_set1_ps(mean), rstd8 = _mm256_set1_ps(rstd);
        for (; i + SIMD_WIDTH <= m; i += SIMD_WIDTH) {
            const __m256 v = _mm256_loadu_ps(x + i);
            const __m256 g = inverse_one_plus_exp8(_mm256_mul_ps(_mm256_sub_ps(mean8, v), rstd8)); /* sigmoid(n) */
            if (gate) _mm256_storeu_ps(gate + i, g);
            _mm256_storeu_ps(out + i, _mm256_mul_ps(v, g));
        }
#endif
        if (gate) {
#pragma omp simd
            for (int64_t j = i; j < m; j++) {
                const float g = sigmoid((x[j] - mean) * rstd);
                gate[j] = g;
                out[j] = x[j] * g;
            }
        } else {
#pragma omp simd
            for (int64_t j = i; j < m; j++) out[j] = x[j] * sigmoid((x[j] - mean) * rstd);
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
 * The first pass sums h and h (x - mu); the second writes grad_in. The sigmoid gate comes from forward (`gate`), so
 * backward takes no exp; `grad_in` may be `gate` itself (written element by element after reading it). The
 * hardsigmoid gate is recomputed from x. */
static inline float hardsigmoid_slope(float normalized) {
    return (normalized > -3.0f && normalized < 3.0f) ? (1.0f / 6.0f) : 0.0f;
}

#ifdef SIMD_WIDTH
/* The first pass with AVX2 over the leading multiple of 64 elements: h and h (x - mu) are summed in float over 64
 * elements, then in double. Returns how many elements it covered. */
static int64_t layeract_backward_sums8(const float *x, const float *grad, const float *gate, float mean, float rstd,
                                       int64_t m, int hard, double *sum_h, double *sum_h_centered) {
    const __m256 mean8 = _mm256_set1_ps(mean), rstd8 = _mm256_set1_ps(rstd), one = _mm256_set1_ps(1.0f);
    const __m256 sixth = _mm256_set1_ps(1.0f / 6.0f), three = _mm256_set1_ps(3.0f);
    __m256d total_h = _mm256_setzero_pd(), total_centered = _mm256_setzero_pd();
    const int64_t covered = m / 64 * 64;
    for (int64_t begin = 0; begin < covered; begin += 64) {
        __m256 block_h[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
        __m256 block_centered[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
        for (int k = 0; k < 8; k++) {
            const int64_t i = begin + SIMD_WIDTH * k;
            const __m256 v = _mm256_loadu_ps(x + i), centered = _mm256_sub_ps(v, mean8);
            __m256 slope;
            if (hard) {
                const __m256 normalized = _mm256_mul_ps(centered, rstd8);
                const __m256 inside = _mm256_cmp_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), normalized), three,
                                                    _CMP_LT_OQ);
                slope = _mm256_and_ps(inside, sixth);
            } else {
                const __m256 g = _mm256_loadu_ps(gate + i);
                slope = _mm256_mul_ps(g, _mm256_sub_ps(one, g));
            }
            const __m256 h = _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(grad + i), v), slope);
            block_h[k & 1] = _mm256_add_ps(block_h[k & 1], h);
            block_centered[k & 1] = _mm256_fmadd_ps(h, centered, block_centered[k & 1]);
        }
        total_h = _mm256_add_pd(total_h, widen8(_mm256_add_ps(block_h[0], block_h[1])));
        total_centered = _mm256_add_pd(total_centered, widen8(_mm256_add_ps(block_centered[0], block_centered[1])));
    }
    *sum_h += horizontal_sum(total_h);
    *sum_h_centered += horizontal_sum(total_centered);
    return covered;
}
#endif

#define CHUNK 1024
static void layeract_backward_group(const float *restrict x, const float *restrict grad, const float *gate,
                                    float mean, float rstd, float *grad_in, int64_t m, int hard) {
    double sum_h = 0.0, sum_h_centered = 0.0;
    int64_t done = 0;
#ifdef SIMD_WIDTH
    done = layeract_backward_sums8(x, grad, gate, mean, rstd, m, hard, &sum_h, &sum_h_centered);
#endif
    float h[CHUNK];
    for (int64_t begin = done; begin < m; begin += CHUNK) {
        const int64_t n = m - begin < CHUNK ? m - begin : CHUNK;
        if (hard) {
#pragma omp simd
            for (int64_t i = begin; i < begin + n; i++)
                h[i - begin] = grad[i] * x[i] * hardsigmoid_slope((x[i] - mean) * rstd);
        } else {
#pragma omp simd
            for (int64_t i = begin; i < begin + n; i++) h[i - begin] = grad[i] * x[i] * (gate[i] * (1.0f - gate[i]));
        }
        double chunk_h, chunk_h_centered;
        weighted_sums(h, x + begin, mean, n, &chunk_h, &chunk_h_centered);
        sum_h += chunk_h;
        sum_h_centered += chunk_h_centered;
    }
    const float k = (float)((double)rstd * rstd * rstd * sum_h_centered / (double)(m - 1));
    const float mean_h = (float)(sum_h / (double)m);
    if (hard) {
#pragma omp simd
        for (int64_t i = 0; i < m; i++) {
            float centered = x[i] - mean, normalized = centered * rstd;
            float h = grad[i] * x[i] * hardsigmoid_slope(normalized);
            grad_in[i] = grad[i] * hardsigmoid(normalized) + rstd * (h - mean_h) - k * centered;
        }
    } else {
#pragma omp simd
        for (int64_t i = 0; i < m; i++) {
            float g = gate[i];
            grad_in[i] = grad[i] * g + rstd * (grad[i] * x[i] * (g * (1.0f - g)) - mean_h) - k * (x[i] - mean);
        }
    }
}

/* `gate`: where forward keeps the sigmoid gate for backward; NULL for the hardsigmoid one or without backward */
int layeract_forward(const float *x, float *out, float *gate, float *mean, float *rstd, int64_t groups, int64_t m,
                     float alpha, int hard, int threads) {
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
        FLUSH_DENORMALS_BEGIN
#pragma omp for schedule(static)
        for (int64_t g = 0; g < groups; g++)
            layeract_forward_group(x + g * m, out + g * m, gate ? gate + g * m : NULL, mean + g, rstd + g, m, alpha,
                                   hard);
        FLUSH_DENORMALS_END
    }
    return 0;
}

/* `gate`: forward's, NULL for the hardsigmoid one; `grad_in` may be `gate` */
int layeract_backward(const float *x, const float *grad, const float *gate, const float *mean, const float *rstd,
                      float *grad_in, int64_t groups, int64_t m, int hard, int threads) {
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
        FLUSH_DENORMALS_BEGIN
#pragma omp for schedule(static)
        for (int64_t g = 0; g < groups; g++)
            layeract_backward_group(x + g * m, grad + g * m, hard ? NULL : gate + g * m, mean[g], rstd[g],
                                    grad_in + g * m, m, hard);
        FLUSH_DENORMALS_END
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------------ ANAct bases
 * NAME_value(x) = f(x); NAME_both(x) = f(x) and, in *slope, f'(x), sharing their work. `p` is the base's parameter
 * (LeakyReLU's slope). The conventions at the kinks and for NaN follow torch's kernels. APALU, whose a and b come
 * per channel, has its own kernels (section "ANAct on APALU"). */

enum { RELU = 0, LEAKY_RELU = 1, SILU = 2, HARDSILU = 3, GELU = 4, GELU_TANH = 5, APALU = 6 };

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

/* Phi(x) = erfc(-x / sqrt 2) / 2, and the density in *density. For z >= 0, erfc(z) = t exp(-z^2) R(t) with
 * t = 1 / (1 + z / 2) and R a degree-10 polynomial fitted for this file (relative error 3e-8, about 2e-7 in float
 * arithmetic), so that one exp, exp(-x^2 / 2), serves both the distribution and the density. */
static inline float normal_cdf(float x, float *density) {
    float z = fabsf(x) * 0.70710678118654752f;
    float t = 1.0f / (1.0f + 0.5f * z);
    float r = 4.630637641e-02f;
    r = r * t - 2.499240473e-01f;
    r = r * t + 5.250830231e-01f;
    r = r * t - 4.905790712e-01f;
    r = r * t + 1.561491941e-01f;
    r = r * t - 6.878074725e-02f;
    r = r * t + 9.551236625e-02f;
    r = r * t + 1.751865882e-01f;
    r = r * t + 2.468514764e-01f;
    r = r * t + 2.821004215e-01f;
    r = r * t + 2.820944495e-01f;
    float gaussian = exp_clamped(-z * z);
    float lower_tail = 0.5f * t * gaussian * r; /* Phi(-|x|) */
    *density = 0.39894228040143268f * gaussian;
    return x < 0.0f ? lower_tail : 1.0f - lower_tail;
}
static inline float gelu_value(float x, float p) {
    (void)p;
    float density;
    return x * normal_cdf(x, &density);
}
static inline float gelu_both(float x, float p, float *slope) {
    (void)p;
    float density;
    float cdf = normal_cdf(x, &density);
    *slope = cdf + x * density;
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
    int interleaved;
} Layout;

/* interleaved: channels-last data with a scale per channel, `inner` pixels of `channels` values each (element
 * (q, c) at q * channels + c), processed pixel by pixel, or by blocks of CHANNEL_BLOCK channels for sums */
#define CHANNEL_BLOCK 64
static inline Layout layout_of(int64_t outer, int64_t channels, int64_t inner, int interleaved) {
    Layout layout = {channels == 1 ? (outer * inner + SEGMENT - 1) / SEGMENT : outer * channels, channels, inner,
                     outer * inner * channels, interleaved && channels > 1};
    if (layout.interleaved) layout.count = outer * inner;
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

#define ANACT_FORWARD(NAME)                                                                                        \
    static void anact_forward_##NAME(const float *x, float *out, const float *scale, const float *shift,           \
                                     Layout layout, float p, int threads) {                                         \
        _Pragma("omp parallel num_threads(threads) if (threads > 1)")                                             \
        {                                                                                                           \
            FLUSH_DENORMALS_BEGIN                                                                                   \
            if (layout.interleaved) {                                                                               \
                const int64_t channels = layout.channels;                                                           \
                _Pragma("omp for schedule(static)")                                                                 \
                for (int64_t q = 0; q < layout.count; q++) {                                                        \
                    const float *restrict xs = x + q * channels;                                                    \
                    float *restrict os = out + q * channels;                                                        \
                    _Pragma("omp simd")                                                                             \
                    for (int64_t c = 0; c < channels; c++) os[c] = NAME##_value(xs[c], p) * scale[c] - shift[c];    \
                }                                                                                                   \
            } else {                                                                                                \
                _Pragma("omp for schedule(static)")                                                                 \
                for (int64_t s = 0; s < layout.count; s++) {                                                        \
                    int64_t length, c;                                                                              \
                    const int64_t start = segment_of(&layout, s, &length, &c);                                      \
                    const float a = scale[c], b = shift[c];                                                         \
                    const float *restrict xs = x + start;                                                           \
                    float *restrict os = out + start;                                                               \
                    _Pragma("omp simd")                                                                             \
                    for (int64_t i = 0; i < length; i++) os[i] = NAME##_value(xs[i], p) * a - b;                     \
                }                                                                                                   \
            }                                                                                                       \
            FLUSH_DENORMALS_END                                                                                     \
        }                                                                                                           \
    }

/* Over a span of `length` elements in one channel (scale a): grad_x = grad * f'(x) * a unless grad_x is NULL, and,
 * when weighted is not NULL, weighted += sum(grad * f(x)) and plain += sum(grad): in float over SUM_BLOCK elements
 * (vector lanes), then in double. */
#define SUM_BLOCK 256
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
        for (int64_t begin = 0; begin < length; begin += SUM_BLOCK) {                                               \
            const int64_t n = length - begin < SUM_BLOCK ? length - begin : SUM_BLOCK;                              \
            const float *restrict xc = xs + begin, *restrict gc = gs + begin;                                       \
            float block_weighted = 0.0f, block_plain = 0.0f;                                                        \
            if (gxs) {                                                                                              \
                float *restrict gxc = gxs + begin;                                                                  \
                _Pragma("omp simd reduction(+ : block_weighted, block_plain)")                                      \
                for (int64_t i = 0; i < n; i++) {                                                                   \
                    float slope;                                                                                    \
                    float value = NAME##_both(xc[i], p, &slope);                                                    \
                    gxc[i] = gc[i] * slope * a;                                                                     \
                    block_weighted += gc[i] * value;                                                                \
                    block_plain += gc[i];                                                                           \
                }                                                                                                   \
            } else {                                                                                                \
                _Pragma("omp simd reduction(+ : block_weighted, block_plain)")                                      \
                for (int64_t i = 0; i < n; i++) {                                                                   \
                    block_weighted += gc[i] * NAME##_value(xc[i], p);                                               \
                    block_plain += gc[i];                                                                           \
                }                                                                                                   \
            }                                                                                                       \
            *weighted += block_weighted;                                                                            \
            *plain += block_plain;                                                                                  \
        }                                                                                                           \
    }

/* ANACT_BACKWARD for interleaved data: blocks of channels over threads when grad_beta is wanted (each channel's
 * sums in one thread), else pixels over threads */
#define ANACT_BACKWARD_INTERLEAVED(NAME)                                                                           \
    static void anact_backward_interleaved_##NAME(const float *x, const float *grad, float *grad_x,                \
                                                  const float *coefficients, float *grad_beta, Layout layout,       \
                                                  float p, int threads) {                                           \
        const int64_t channels = layout.channels, pixels = layout.count;                                            \
        const float *scale = coefficients, *mean = coefficients + 2 * channels, *dscale = coefficients + 3 * channels; \
        _Pragma("omp parallel num_threads(threads) if (threads > 1)")                                             \
        {                                                                                                           \
            FLUSH_DENORMALS_BEGIN                                                                                   \
            if (grad_beta) {                                                                                        \
                _Pragma("omp for schedule(static)")                                                                 \
                for (int64_t first = 0; first < channels; first += CHANNEL_BLOCK) {                                 \
                    const int64_t width = channels - first < CHANNEL_BLOCK ? channels - first : CHANNEL_BLOCK;      \
                    double weighted[CHANNEL_BLOCK] = {0}, plain[CHANNEL_BLOCK] = {0};                               \
                    for (int64_t q = 0; q < pixels; q++) {                                                          \
                        const int64_t start = q * channels + first;                                                 \
                        const float *restrict xs = x + start, *restrict gs = grad + start;                          \
                        float *restrict gxs = grad_x ? grad_x + start : NULL;                                       \
                        _Pragma("omp simd")                                                                         \
                        for (int64_t j = 0; j < width; j++) {                                                       \
                            float slope;                                                                            \
                            float value = NAME##_both(xs[j], p, &slope);                                            \
                            if (gxs) gxs[j] = gs[j] * slope * scale[first + j];                                     \
                            weighted[j] += gs[j] * value;                                                           \
                            plain[j] += gs[j];                                                                      \
                        }                                                                                           \
                    }                                                                                               \
                    for (int64_t j = 0; j < width; j++)                                                             \
                        grad_beta[first + j] =                                                                      \
                            (float)((weighted[j] - mean[first + j] * plain[j]) * dscale[first + j]);                \
                }                                                                                                   \
            } else {                                                                                                \
                _Pragma("omp for schedule(static)")                                                                 \
                for (int64_t q = 0; q < pixels; q++) {                                                              \
                    const float *restrict xs = x + q * channels, *restrict gs = grad + q * channels;                \
                    float *restrict gxs = grad_x + q * channels;                                                    \
                    _Pragma("omp simd")                                                                             \
                    for (int64_t c = 0; c < channels; c++) {                                                        \
                        float slope;                                                                                \
                        NAME##_both(xs[c], p, &slope);                                                              \
                        gxs[c] = gs[c] * slope * scale[c];                                                          \
                    }                                                                                               \
                }                                                                                                   \
            }                                                                                                       \
            FLUSH_DENORMALS_END                                                                                     \
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
        if (layout.interleaved) {                                                                                   \
            anact_backward_interleaved_##NAME(x, grad, grad_x, coefficients, grad_beta, layout, p, threads);       \
            return;                                                                                                 \
        }                                                                                                           \
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

/* For the channels first .. first + width - 1 (width 1 unless interleaved): sums[k][j] for channel first + j, with
 * k = 0 .. 4: sum x, sum x^2, sum f(x), sum f(x)^2, sum f'(x)^2 (single-threaded: it runs on a sample of the batch) */
#define ANACT_STATISTICS(NAME)                                                                                     \
    static void anact_statistics_##NAME(const float *x, Layout layout, float p, int64_t first, int64_t width,     \
                                        double sums[5][CHANNEL_BLOCK]) {                                           \
        if (layout.interleaved) {                                                                                   \
            for (int k = 0; k < 5; k++)                                                                             \
                for (int64_t j = 0; j < width; j++) sums[k][j] = 0.0;                                               \
            for (int64_t q = 0; q < layout.count; q++) {                                                            \
                const float *xs = x + q * layout.channels + first;                                                  \
                _Pragma("omp simd")                                                                                 \
                for (int64_t j = 0; j < width; j++) {                                                               \
                    float v = xs[j], d;                                                                             \
                    float f = NAME##_both(v, p, &d);                                                                \
                    sums[0][j] += v, sums[1][j] += v * v, sums[2][j] += f, sums[3][j] += f * f, sums[4][j] += d * d; \
                }                                                                                                   \
            }                                                                                                       \
            return;                                                                                                 \
        }                                                                                                           \
        double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0, s4 = 0.0;                                                    \
        const int64_t step = layout.channels == 1 ? 1 : layout.channels;                                           \
        for (int64_t s = layout.channels == 1 ? 0 : first; s < layout.count; s += step) {                           \
            int64_t length, channel;                                                                                \
            const float *xs = x + segment_of(&layout, s, &length, &channel);                                        \
            for (int64_t begin = 0; begin < length; begin += SUM_BLOCK) {                                           \
                const int64_t end = length - begin < SUM_BLOCK ? length : begin + SUM_BLOCK;                         \
                float b0 = 0.0f, b1 = 0.0f, b2 = 0.0f, b3 = 0.0f, b4 = 0.0f;                                        \
                _Pragma("omp simd reduction(+ : b0, b1, b2, b3, b4)")                                               \
                for (int64_t i = begin; i < end; i++) {                                                             \
                    float v = xs[i], d;                                                                             \
                    float f = NAME##_both(v, p, &d);                                                                \
                    b0 += v;                                                                                        \
                    b1 += v * v;                                                                                    \
                    b2 += f;                                                                                        \
                    b3 += f * f;                                                                                    \
                    b4 += d * d;                                                                                    \
                }                                                                                                   \
                s0 += b0, s1 += b1, s2 += b2, s3 += b3, s4 += b4;                                                   \
            }                                                                                                       \
        }                                                                                                           \
        sums[0][0] = s0, sums[1][0] = s1, sums[2][0] = s2, sums[3][0] = s3, sums[4][0] = s4;                        \
    }

#define ANACT_KERNELS(NAME)                                                                                        \
    ANACT_FORWARD(NAME) ANACT_BACKWARD_SPAN(NAME) ANACT_BACKWARD_INTERLEAVED(NAME) ANACT_BACKWARD(NAME)            \
    ANACT_STATISTICS(NAME)
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

/* ANAct around APALU (kind APALU): its kernels are in the section "ANAct on APALU" below */
static void anact_statistics_apalu(const float *x, Layout layout, const float *a, const float *b, int64_t first,
                                   int64_t width, double sums[5][CHANNEL_BLOCK]);
static void anact_forward_apalu(const float *x, float *out, const float *coefficients, Layout layout, int threads);
static void anact_backward_apalu(const float *x, const float *grad, float *grad_x, const float *coefficients,
                                 float *grad_beta, float *grad_a, float *grad_b, Layout layout, int threads);

/* ANAct's readings (see actsearch/activations/anact.py): how rho is estimated and which gains make lambda */
enum { MOMENTS_MIXED = 0, MOMENTS_RAW = 1, MOMENTS_CENTRED = 2 };
enum { GAIN_RMS = 0, GAIN_FORWARD = 1, GAIN_BACKWARD = 2 };

/* One channel's running estimates move towards those of its sums (as ANACT_STATISTICS returns them, over `count`
 * elements), with weight `weight`: see anact_prepare. */
static void anact_update(const double sums[5], double count, double weight, double variance_floor, int moments,
                         float *rho, float *rho_prime, float *mean) {
    double mean_x = sums[0] / count, mean_f = sums[2] / count;
    double denominator = moments == MOMENTS_RAW ? sums[1] / count : sums[1] / count - mean_x * mean_x;
    double numerator = moments == MOMENTS_CENTRED ? sums[3] / count - mean_f * mean_f : sums[3] / count;
    double estimates[3] = {numerator / (denominator > variance_floor ? denominator : variance_floor),
                           sums[4] / count, mean_f};
    float *running[3] = {rho, rho_prime, mean};
    for (int k = 0; k < 3; k++) *running[k] = (float)(*running[k] + weight * (estimates[k] - *running[k]));
}

/* ANAct's state before a pass, per channel c of `channels`. In training (`sample` not NULL), first the running
 * estimates rho (forward gain by `moments`: Var(f(x)) / Var(x) centred, E[f(x)^2] / E[x^2] raw, E[f(x)^2] / Var(x)
 * mixed; the denominator floored at variance_floor), rho' (backward gain
 * E[f'(x)^2]) and mean (E[f(x)]) move towards the sample's (`sample_outer` rows of `inner`, `interleaved` as in
 * layout_of; weight 1 for the first batch, else 1 - momentum) and `batches` counts one more; the buffers are
 * written in place, as BatchNorm's running statistics are, and never saved for backward. Then the coefficients,
 * a snapshot for the pass: out[c] = scale = lambda + 0.3 tanh(beta) with lambda by `gain`: 1/sqrt(rho) forward,
 * 1/sqrt(rho') backward, sqrt((rho + rho') / (2 rho rho')) rms, both gains floored at gain_floor;
 * out[C + c] = scale * mean; out[2C + c] = mean; out[3C + c] = d scale / d beta. beta may be NULL (not learnable),
 * and with subtract_mean = 0 the mean counts as 0.
 * For kind APALU, `a` and `b` are APALU's parameters, one per channel (p is unused; other kinds ignore a and b),
 * and out has four more rows: out[4C + c] = scale * a, out[5C + c] = scale * b, out[6C + c] = a, out[7C + c] = b.
 * With `pooled`, ANAct is per layer although the layout has `channels` channels (around a per-channel APALU): the
 * running estimates and beta have one element, which the sums of all channels update, and every column of out
 * holds the layer's coefficients (with its own channel's a and b). */
int anact_prepare(int kind, const float *sample, int64_t sample_outer, int64_t channels, int64_t inner,
                  int interleaved, float p, const float *a, const float *b, int pooled, float *rho, float *rho_prime,
                  float *mean, int64_t *batches, double momentum, double variance_floor, const float *beta,
                  int subtract_mean, double gain_floor, int moments, int gain, float *out) {
    if (kind < RELU || kind > APALU) return 2;
    if (sample) {
        FLUSH_DENORMALS_BEGIN
        const Layout layout = layout_of(sample_outer, channels, inner, interleaved);
        const double count = (double)(sample_outer * inner);
        const double weight = *batches == 0 ? 1.0 : 1.0 - momentum;
        const int64_t block = layout.interleaved ? CHANNEL_BLOCK : 1;
        double pool[5] = {0}, sums[5][CHANNEL_BLOCK] = {{0}}; /* zeroed once, against a compiler warning */
        for (int64_t first = 0; first < channels; first += block) {
            const int64_t width = channels - first < block ? channels - first : block;
            if (kind == APALU) {
                anact_statistics_apalu(sample, layout, a, b, first, width, sums);
            } else {
                FOR_EACH_BASE(CALL_STATISTICS, sample, layout, p, first, width, sums)
            }
            for (int64_t j = 0; j < width; j++) {
                const int64_t c = first + j;
                double own[5];
                for (int k = 0; k < 5; k++) own[k] = sums[k][j], pool[k] += sums[k][j];
                if (!pooled)
                    anact_update(own, count, weight, variance_floor, moments, rho + c, rho_prime + c, mean + c);
            }
        }
        if (pooled)
            anact_update(pool, count * (double)channels, weight, variance_floor, moments, rho, rho_prime, mean);
        *batches += 1;
        FLUSH_DENORMALS_END
    }
    for (int64_t c = 0; c < channels; c++) {
        const int64_t r = pooled ? 0 : c; /* the running estimates' and beta's element */
        double forward = rho[r] > gain_floor ? rho[r] : gain_floor;
        double backward = rho_prime[r] > gain_floor ? rho_prime[r] : gain_floor;
        double lambda = gain == GAIN_FORWARD    ? 1.0 / sqrt(forward)
                        : gain == GAIN_BACKWARD ? 1.0 / sqrt(backward)
                                                : sqrt((forward + backward) / (2.0 * forward * backward));
        double learned = beta ? tanh((double)beta[r]) : 0.0;
        double scale = lambda + 0.3 * learned;
        double mu = subtract_mean ? mean[r] : 0.0;
        out[c] = (float)scale;
        out[channels + c] = (float)(scale * mu);
        out[2 * channels + c] = (float)mu;
        out[3 * channels + c] = (float)(0.3 * (1.0 - learned * learned));
        if (kind == APALU) {
            out[4 * channels + c] = (float)(scale * a[c]);
            out[5 * channels + c] = (float)(scale * b[c]);
            out[6 * channels + c] = a[c];
            out[7 * channels + c] = b[c];
        }
    }
    return 0;
}

/* out = f(x) * scale - shift, per channel, with the coefficients of anact_prepare */
int anact_forward(int kind, const float *x, float *out, const float *coefficients, int64_t outer, int64_t channels,
                  int64_t inner, int interleaved, float p, int threads) {
    const Layout layout = layout_of(outer, channels, inner, interleaved);
    if (kind == APALU) {
        anact_forward_apalu(x, out, coefficients, layout, threads);
        return 0;
    }
    FOR_EACH_BASE(CALL_FORWARD, x, out, coefficients, coefficients + channels, layout, p, threads)
    return 0;
}

/* grad_x (skipped when NULL) and grad_beta (skipped when NULL): see ANACT_BACKWARD. For kind APALU also, per channel,
 * the gradients of APALU's a and b (skipped when NULL; both or neither; other kinds ignore them). */
int anact_backward(int kind, const float *x, const float *grad, float *grad_x, const float *coefficients,
                   float *grad_beta, float *grad_a, float *grad_b, int64_t outer, int64_t channels, int64_t inner,
                   int interleaved, float p, int threads) {
    const Layout layout = layout_of(outer, channels, inner, interleaved);
    if (kind == APALU) {
        anact_backward_apalu(x, grad, grad_x, coefficients, grad_beta, grad_a, grad_b, layout, threads);
        return 0;
    }
    FOR_EACH_BASE(CALL_BACKWARD, x, grad, grad_x, coefficients, grad_beta, layout, p, threads)
    return 0;
}

/* ------------------------------------------------------------------------------------------------ APALU
 * x >= 0: a (x + x sigmoid(1.702 x)), slope a (1 + s + 1.702 x s (1 - s)) with s = sigmoid(1.702 x);
 * x < 0: b expm1(x), slope b exp(x). `a` and `b` per channel (the layouts of ANAct). ANAct around APALU runs the
 * same passes: with the unit parts P and N below, scale (a P + b N - mean) = (scale a) P + (scale b) N - shift is
 * an APALU with scaled a and b, less a shift. */

/* the unit parts: *positive = x + x s (x >= 0, else 0), *negative = expm1(x) (x < 0, else 0), and the slopes for
 * a = b = 1 of each branch (0 off it). One exp serves both branches: exp(-1.702 x) for the sigmoid where x >= 0,
 * exp(x) below; near 0 a Taylor polynomial gives expm1, where exp(x) - 1 would cancel. */
static inline void apalu_parts(float x, float *positive, float *negative, float *slope_a, float *slope_b) {
    int nonnegative = x >= 0.0f;
    float e = exp_clamped(nonnegative ? -1.702f * x : x);
    float s = 1.0f / (1.0f + e);
    float taylor = x * (1.0f + x * (0.5f + x * (1.0f / 6.0f + x * (1.0f / 24.0f + x * (1.0f / 120.0f +
                   x * (1.0f / 720.0f + x * (1.0f / 5040.0f)))))));
    *positive = nonnegative ? x + x * s : 0.0f;
    *negative = nonnegative ? 0.0f : (x > -0.25f ? taylor : e - 1.0f);
    *slope_a = nonnegative ? 1.0f + s + 1.702f * x * s * (1.0f - s) : 0.0f;
    *slope_b = nonnegative ? 0.0f : e;
}

/* One pass of APALU, alone or inside ANAct, per channel c: out = a[c] P + b[c] N - shift[c] and
 * grad_x = grad (a[c] P' + b[c] N'), where inside ANAct a and b are scale times APALU's. The backward's sums per
 * channel, sum(grad P), sum(grad N) and (for grad_beta) sum(grad), give the gradients in apalu_finish. */
typedef struct {
    const float *a, *b, *shift; /* shift NULL: none */
    const float *anact;         /* ANAct's coefficients (anact_prepare, kind APALU); NULL for APALU alone */
    int64_t channels;
    float *grad_a, *grad_b;     /* APALU's a and b: both or neither (NULL) */
    float *grad_beta;           /* ANAct's beta, or NULL */
} ApaluPass;

static inline int apalu_sums_wanted(const ApaluPass *pass) { return pass->grad_a || pass->grad_beta; }

/* channel c's gradients from its sums: of a, scale sum(grad P); of b, scale sum(grad N) (scale 1 for APALU alone);
 * of beta, (a sum(grad P) + b sum(grad N) - mean sum(grad)) d scale / d beta with the unscaled a and b */
static void apalu_finish(const ApaluPass *pass, int64_t c, double sum_p, double sum_n, double sum_g) {
    const float *k = pass->anact;
    const int64_t channels = pass->channels;
    if (pass->grad_a) {
        const double scale = k ? k[c] : 1.0;
        pass->grad_a[c] = (float)(scale * sum_p);
        pass->grad_b[c] = (float)(scale * sum_n);
    }
    if (pass->grad_beta)
        pass->grad_beta[c] = (float)((k[6 * channels + c] * sum_p + k[7 * channels + c] * sum_n -
                                      k[2 * channels + c] * sum_g) * k[3 * channels + c]);
}

static void apalu_forward_span(const float *restrict xs, float *restrict os, float a, float b, float shift,
                               int64_t length) {
#pragma omp simd
    for (int64_t i = 0; i < length; i++) {
        float positive, negative, slope_a, slope_b, x = xs[i];
        apalu_parts(x, &positive, &negative, &slope_a, &slope_b);
        float out = a * positive + b * negative - shift;
        os[i] = x != x ? x : out; /* NaN stays NaN (the negative branch clamps it away) */
    }
}

/* grad_x = grad * f'(x) unless NULL; with sums: sums[0] += sum(grad * positive), sums[1] += sum(grad * negative)
 * and, with plain, sums[2] += sum(grad); in float over SUM_BLOCK elements (vector lanes), then in double */
static void apalu_backward_span(const float *restrict xs, const float *restrict gs, float *restrict gxs, float a,
                                float b, int64_t length, double *sums, int plain) {
    if (!sums) {
#pragma omp simd
        for (int64_t i = 0; i < length; i++) {
            float positive, negative, slope_a, slope_b;
            apalu_parts(xs[i], &positive, &negative, &slope_a, &slope_b);
            gxs[i] = gs[i] * (a * slope_a + b * slope_b);
        }
        return;
    }
    for (int64_t begin = 0; begin < length; begin += SUM_BLOCK) {
        const int64_t n = length - begin < SUM_BLOCK ? length - begin : SUM_BLOCK;
        const float *restrict xc = xs + begin, *restrict gc = gs + begin;
        float block_a = 0.0f, block_b = 0.0f, block_plain = 0.0f;
        if (gxs) {
            float *restrict gxc = gxs + begin;
#pragma omp simd reduction(+ : block_a, block_b, block_plain)
            for (int64_t i = 0; i < n; i++) {
                float positive, negative, slope_a, slope_b;
                apalu_parts(xc[i], &positive, &negative, &slope_a, &slope_b);
                gxc[i] = gc[i] * (a * slope_a + b * slope_b);
                block_a += gc[i] * positive;
                block_b += gc[i] * negative;
                block_plain += gc[i];
            }
        } else {
#pragma omp simd reduction(+ : block_a, block_b, block_plain)
            for (int64_t i = 0; i < n; i++) {
                float positive, negative, slope_a, slope_b;
                apalu_parts(xc[i], &positive, &negative, &slope_a, &slope_b);
                block_a += gc[i] * positive;
                block_b += gc[i] * negative;
                block_plain += gc[i];
            }
        }
        sums[0] += block_a;
        sums[1] += block_b;
        if (plain) sums[2] += block_plain;
    }
}

static void apalu_forward_pass(const float *x, float *out, const ApaluPass *pass, Layout layout, int threads) {
    const float *a = pass->a, *b = pass->b, *shift = pass->shift;
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
        FLUSH_DENORMALS_BEGIN
        if (layout.interleaved) {
            const int64_t channels = layout.channels;
#pragma omp for schedule(static)
            for (int64_t q = 0; q < layout.count; q++) {
                const float *restrict xs = x + q * channels;
                float *restrict os = out + q * channels;
                if (shift) {
#pragma omp simd
                    for (int64_t c = 0; c < channels; c++) {
                        float positive, negative, slope_a, slope_b, v = xs[c];
                        apalu_parts(v, &positive, &negative, &slope_a, &slope_b);
                        float result = a[c] * positive + b[c] * negative - shift[c];
                        os[c] = v != v ? v : result;
                    }
                } else {
#pragma omp simd
                    for (int64_t c = 0; c < channels; c++) {
                        float positive, negative, slope_a, slope_b, v = xs[c];
                        apalu_parts(v, &positive, &negative, &slope_a, &slope_b);
                        float result = a[c] * positive + b[c] * negative;
                        os[c] = v != v ? v : result;
                    }
                }
            }
        } else {
#pragma omp for schedule(static)
            for (int64_t s = 0; s < layout.count; s++) {
                int64_t length, c;
                const int64_t start = segment_of(&layout, s, &length, &c);
                apalu_forward_span(x + start, out + start, a[c], b[c], shift ? shift[c] : 0.0f, length);
            }
        }
        FLUSH_DENORMALS_END
    }
}

/* apalu_backward_pass for interleaved data: blocks of channels over threads when sums are wanted, else pixels */
static void apalu_backward_interleaved(const float *x, const float *grad, float *grad_x, const ApaluPass *pass,
                                       Layout layout, int threads) {
    const int64_t channels = layout.channels, pixels = layout.count;
    const float *a = pass->a, *b = pass->b;
#pragma omp parallel num_threads(threads) if (threads > 1)
    {
        FLUSH_DENORMALS_BEGIN
        if (apalu_sums_wanted(pass)) {
#pragma omp for schedule(static)
            for (int64_t first = 0; first < channels; first += CHANNEL_BLOCK) {
                const int64_t width = channels - first < CHANNEL_BLOCK ? channels - first : CHANNEL_BLOCK;
                double sum_a[CHANNEL_BLOCK] = {0}, sum_b[CHANNEL_BLOCK] = {0}, sum_g[CHANNEL_BLOCK] = {0};
                for (int64_t q = 0; q < pixels; q++) {
                    const int64_t start = q * channels + first;
                    const float *restrict xs = x + start, *restrict gs = grad + start;
                    float *restrict gxs = grad_x ? grad_x + start : NULL;
#pragma omp simd
                    for (int64_t j = 0; j < width; j++) {
                        float positive, negative, slope_a, slope_b;
                        apalu_parts(xs[j], &positive, &negative, &slope_a, &slope_b);
                        if (gxs) gxs[j] = gs[j] * (a[first + j] * slope_a + b[first + j] * slope_b);
                        sum_a[j] += gs[j] * positive;
                        sum_b[j] += gs[j] * negative;
                        sum_g[j] += gs[j];
                    }
                }
                for (int64_t j = 0; j < width; j++) apalu_finish(pass, first + j, sum_a[j], sum_b[j], sum_g[j]);
            }
        } else {
#pragma omp for schedule(static)
            for (int64_t q = 0; q < pixels; q++) {
                const float *restrict xs = x + q * channels, *restrict gs = grad + q * channels;
                float *restrict gxs = grad_x + q * channels;
#pragma omp simd
                for (int64_t c = 0; c < channels; c++) {
                    float positive, negative, slope_a, slope_b;
                    apalu_parts(xs[c], &positive, &negative, &slope_a, &slope_b);
                    gxs[c] = gs[c] * (a[c] * slope_a + b[c] * slope_b);
                }
            }
        }
        FLUSH_DENORMALS_END
    }
}

/* grad_x (skipped when NULL) and the gradients of apalu_finish; per-channel sums are split over threads by blocks of
 * channels, one channel's over threads by segment as in ANACT_BACKWARD */
static void apalu_backward_pass(const float *x, const float *grad, float *grad_x, const ApaluPass *pass,
                                Layout layout, int threads) {
    const int64_t channels = layout.channels;
    const int sums = apalu_sums_wanted(pass), plain = pass->grad_beta != NULL;
    if (layout.interleaved) {
        apalu_backward_interleaved(x, grad, grad_x, pass, layout, threads);
        return;
    }
    if (sums && channels > 1) {
        /* blocks of channels over threads, each block's rows taken sample by sample: in memory order, not one
         * short row per sample (one channel at a time); each channel's sums still in one thread, in sample order */
        const int64_t parts = threads < 1 ? 1 : threads, wanted = (channels + parts - 1) / parts;
        const int64_t width = wanted < CHANNEL_BLOCK ? wanted : CHANNEL_BLOCK, blocks = (channels + width - 1) / width;
        const int64_t samples = layout.count / channels;
#pragma omp parallel num_threads(threads) if (threads > 1)
        {
            FLUSH_DENORMALS_BEGIN
#pragma omp for schedule(static)
            for (int64_t block = 0; block < blocks; block++) {
                const int64_t first = block * width, count = channels - first < width ? channels - first : width;
                double own[CHANNEL_BLOCK][3] = {{0}};
                for (int64_t sample = 0; sample < samples; sample++)
                    for (int64_t j = 0; j < count; j++) {
                        const int64_t c = first + j, start = (sample * channels + c) * layout.inner;
                        apalu_backward_span(x + start, grad + start, grad_x ? grad_x + start : NULL, pass->a[c],
                                            pass->b[c], layout.inner, own[j], plain);
                    }
                for (int64_t j = 0; j < count; j++) apalu_finish(pass, first + j, own[j][0], own[j][1], own[j][2]);
            }
            FLUSH_DENORMALS_END
        }
        return;
    }
    const int parts = threads < 1 ? 1 : (threads > MAX_PARTS ? MAX_PARTS : threads);
    double partial[3 * MAX_PARTS] = {0};
#pragma omp parallel num_threads(parts) if (parts > 1)
    {
        FLUSH_DENORMALS_BEGIN
        double *own = partial + 3 * omp_thread_number();
#pragma omp for schedule(static)
        for (int64_t s = 0; s < layout.count; s++) {
            int64_t length, c;
            const int64_t start = segment_of(&layout, s, &length, &c);
            apalu_backward_span(x + start, grad + start, grad_x ? grad_x + start : NULL, pass->a[c], pass->b[c],
                                length, sums ? own : NULL, plain);
        }
        FLUSH_DENORMALS_END
    }
    if (sums) {
        double total_sums[3] = {0.0, 0.0, 0.0};
        for (int t = 0; t < parts; t++)
            for (int k = 0; k < 3; k++) total_sums[k] += partial[3 * t + k];
        apalu_finish(pass, 0, total_sums[0], total_sums[1], total_sums[2]);
    }
}

int apalu_forward(const float *x, float *out, const float *a, const float *b, int64_t outer, int64_t channels,
                  int64_t inner, int interleaved, int threads) {
    const ApaluPass pass = {.a = a, .b = b, .channels = channels};
    apalu_forward_pass(x, out, &pass, layout_of(outer, channels, inner, interleaved), threads);
    return 0;
}

/* grad_x (skipped when NULL), and grad_a, grad_b per channel (skipped when NULL; both or neither) */
int apalu_backward(const float *x, const float *grad, float *grad_x, const float *a, const float *b, float *grad_a,
                   float *grad_b, int64_t outer, int64_t channels, int64_t inner, int interleaved, int threads) {
    const ApaluPass pass = {.a = a, .b = b, .channels = channels, .grad_a = grad_a, .grad_b = grad_b};
    apalu_backward_pass(x, grad, grad_x, &pass, layout_of(outer, channels, inner, interleaved), threads);
    return 0;
}

/* ------------------------------------------------------------------------------------------------ ANAct on APALU
 * The kernels of kind APALU behind the ANAct entry points, with the coefficients' rows of anact_prepare. */

static ApaluPass anact_apalu_pass(const float *coefficients, int64_t channels) {
    return (ApaluPass){.a = coefficients + 4 * channels, .b = coefficients + 5 * channels,
                       .shift = coefficients + channels, .anact = coefficients, .channels = channels};
}

static void anact_forward_apalu(const float *x, float *out, const float *coefficients, Layout layout, int threads) {
    const ApaluPass pass = anact_apalu_pass(coefficients, layout.channels);
    apalu_forward_pass(x, out, &pass, layout, threads);
}

static void anact_backward_apalu(const float *x, const float *grad, float *grad_x, const float *coefficients,
                                 float *grad_beta, float *grad_a, float *grad_b, Layout layout, int threads) {
    ApaluPass pass = anact_apalu_pass(coefficients, layout.channels);
    pass.grad_a = grad_a, pass.grad_b = grad_b, pass.grad_beta = grad_beta;
    apalu_backward_pass(x, grad, grad_x, &pass, layout, threads);
}

/* ANACT_STATISTICS for APALU, with f = a P + b N and f' = a P' + b N' of channel c = first + j */
static void anact_statistics_apalu(const float *x, Layout layout, const float *a, const float *b, int64_t first,
                                   int64_t width, double sums[5][CHANNEL_BLOCK]) {
    if (layout.interleaved) {
        for (int k = 0; k < 5; k++)
            for (int64_t j = 0; j < width; j++) sums[k][j] = 0.0;
        for (int64_t q = 0; q < layout.count; q++) {
            const float *xs = x + q * layout.channels + first;
#pragma omp simd
            for (int64_t j = 0; j < width; j++) {
                float v = xs[j], positive, negative, slope_a, slope_b;
                apalu_parts(v, &positive, &negative, &slope_a, &slope_b);
                float f = a[first + j] * positive + b[first + j] * negative;
                float d = a[first + j] * slope_a + b[first + j] * slope_b;
                f = v != v ? v : f;
                sums[0][j] += v, sums[1][j] += v * v, sums[2][j] += f, sums[3][j] += f * f, sums[4][j] += d * d;
            }
        }
        return;
    }
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0, s4 = 0.0;
    const int64_t step = layout.channels == 1 ? 1 : layout.channels;
    for (int64_t s = layout.channels == 1 ? 0 : first; s < layout.count; s += step) {
        int64_t length, channel;
        const float *xs = x + segment_of(&layout, s, &length, &channel);
        const float ac = a[channel], bc = b[channel];
        for (int64_t begin = 0; begin < length; begin += SUM_BLOCK) {
            const int64_t end = length - begin < SUM_BLOCK ? length : begin + SUM_BLOCK;
            float b0 = 0.0f, b1 = 0.0f, b2 = 0.0f, b3 = 0.0f, b4 = 0.0f;
#pragma omp simd reduction(+ : b0, b1, b2, b3, b4)
            for (int64_t i = begin; i < end; i++) {
                float v = xs[i], positive, negative, slope_a, slope_b;
                apalu_parts(v, &positive, &negative, &slope_a, &slope_b);
                float f = ac * positive + bc * negative, d = ac * slope_a + bc * slope_b;
                f = v != v ? v : f;
                b0 += v;
                b1 += v * v;
                b2 += f;
                b3 += f * f;
                b4 += d * d;
            }
            s0 += b0, s1 += b1, s2 += b2, s3 += b3, s4 += b4;
        }
    }
    sums[0][0] = s0, sums[1][0] = s1, sums[2][0] = s2, sums[3][0] = s3, sums[4][0] = s4;
}
