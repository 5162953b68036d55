/*
 * Decode dot products on x86-64 with AVX2, called from dev.nemoh.kernels.NativeKernels through FFM: Q8_0 and Q4_0
 * weights against Q8_0-quantized activations, and bf16 weights against float32 activations.
 *
 * Why native: the Vector API has no int8 multiply-add, so its Q8_0 block dot takes ~14 vector instructions per
 * 32 weights and is compute bound, below the memory bandwidth, on AVX2 machines; AVX2's maddubs + madd take a
 * block in 4, the same integer sums. Built by scripts/build-native.sh when a C compiler is present; without it the
 * Vector API kernel runs. Layouts are QuantizedWeights' (see there): quants row-major, 32 per block; one float32
 * scale per block; the input quantized to Q8_0 blocks once per matmul.
 */
#include <immintrin.h>
#include <stdint.h>

#include "lanes.h"

/* The 32 quants of a Q4_0 block as stored, 0..15 (the value plus 8): 16 bytes, element i in the low nibble of byte i
   and element 16 + i in its high nibble (QuantizedWeights' layout, GGML's) */
__attribute__((target("avx2,fma")))
static inline __attribute__((always_inline)) __m256i q4_quants(const uint8_t *p) {
    __m128i packed = _mm_loadu_si128((const __m128i *) p);
    __m128i mask = _mm_set1_epi8(0x0f);
    __m128i lo = _mm_and_si128(packed, mask), hi = _mm_and_si128(_mm_srli_epi16(packed, 4), mask);
    return _mm256_set_m128i(hi, lo);
}

/*
 * sum_b dw[b] * dx[b] * sum_j w[b, j] * qx[b, j] over `blocks` blocks of 32, weights in Q8_0 (q4 = 0: 32 bytes per
 * block) or Q4_0 (q4 = 1: 16 bytes). Q4_0 quants are stored plus 8, so they go into maddubs unsigned as they are and
 * 8 * sum_j qx[b, j] (xs[b]) comes off afterwards: three instructions a block fewer than unpacking to signed values.
 */
__attribute__((target("avx2,fma")))
static inline __attribute__((always_inline)) float block_dots(const uint8_t *qw, const float *dw, const int8_t *qx,
                                                              const float *dx, const int32_t *xs, int blocks, int q4) {
    const __m256i ones = _mm256_set1_epi16(1);
    int bytes = q4 ? 16 : 32;
    __m256 acc = _mm256_setzero_ps();
    float offset = 0;
    for (int b = 0; b < blocks; b++) {
        /* A cache line of weights 1 KiB ahead, once per line: the hardware prefetcher alone leaves the weights
           streaming below the read bandwidth, and this closes most of the gap (PERFORMANCE.md). Past the last row it
           touches nothing: prefetches do not fault. */
        if ((b & (q4 ? 3 : 1)) == 0) _mm_prefetch((const char *) (qw + bytes * b + 1024), _MM_HINT_T0);
        __m256i x = _mm256_loadu_si256((const __m256i *) (qx + 32 * b));
        float d = dw[b] * dx[b];
        __m256i pairs;
        if (q4) {
            pairs = _mm256_maddubs_epi16(q4_quants(qw + 16 * b), x);
            offset += d * (float) xs[b];
        } else {
            /* maddubs takes one unsigned operand: |w| against x with w's sign moved onto it */
            __m256i w = _mm256_loadu_si256((const __m256i *) (qw + 32 * b));
            pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
        }
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, ones)), _mm256_set1_ps(d), acc);
    }
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s) - 8 * offset;
}

__attribute__((target("avx2,fma")))
static inline __attribute__((always_inline)) void quant_dots(const uint8_t *qw, const float *dw, const int8_t *qx,
                                                             const float *dx, const int32_t *xs, int blocks, int rows,
                                                             int o0, int o1, float scale, int add, float *y, int out,
                                                             int q4) {
    int64_t rowBytes = (int64_t) blocks * (q4 ? 16 : 32);
    for (int o = o0; o < o1; o++) {
        for (int r = 0; r < rows; r++) {
            float v = scale * block_dots(qw + o * rowBytes, dw + (int64_t) o * blocks, qx + (int64_t) r * blocks * 32,
                                         dx + (int64_t) r * blocks, xs + (int64_t) r * blocks, blocks, q4);
            float *at = y + (int64_t) r * out + (o - o0);
            *at = add ? *at + v : v;
        }
    }
}

/*
 * y[r * out + o - o0] = scale * dot(W[o], x[r]) (added to it when add != 0) for weight rows o in [o0, o1) and input
 * rows r in [0, rows). W: qw [weight rows][blocks * 32] int8, dw [weight rows][blocks]; x: qx [rows][blocks * 32],
 * dx [rows][blocks], xs [rows][blocks] the sums of each block's quants. The caller passes y from output o0 on.
 */
__attribute__((target("avx2,fma")))
void nemoh_q8_0_dots(const int8_t *qw, const float *dw, const int8_t *qx, const float *dx, const int32_t *xs, int blocks,
                     int rows, int o0, int o1, float scale, int add, float *y, int out) {
    quant_dots((const uint8_t *) qw, dw, qx, dx, xs, blocks, rows, o0, o1, scale, add, y, out, 0);
}

/* As nemoh_q8_0_dots with Q4_0 weights: qw [weight rows][blocks * 16] packed nibbles. */
__attribute__((target("avx2,fma")))
void nemoh_q4_0_dots(const uint8_t *qw, const float *dw, const int8_t *qx, const float *dx, const int32_t *xs, int blocks,
                     int rows, int o0, int o1, float scale, int add, float *y, int out) {
    quant_dots(qw, dw, qx, dx, xs, blocks, rows, o0, o1, scale, add, y, out, 1);
}

__attribute__((target("avx2,fma")))
static __m256 bf16x8(const uint16_t *p) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *) p)), 16));
}

static float bf16_to_float(uint16_t h) {
    uint32_t bits = (uint32_t) h << 16;
    float f;
    __builtin_memcpy(&f, &bits, 4);
    return f;
}

/*
 * bf16: y[r * out + o - o0] = scale * dot(W[o], x[r]) (added to it when add != 0), W [weight rows][cols] bf16, x
 * [rows][cols] float32. Each output has DenseWeights.dot's exact bits: one 8-lane FMA chain over whole vectors, lanes
 * added in order, then the tail with separate multiply and add (built with -ffp-contract=off). Weight rows go in
 * pairs (two independent chains) with a prefetch 1 KiB ahead in each.
 */
__attribute__((target("avx2,fma")))
void nemoh_bf16_dots(const uint16_t *w, const float *x, int cols, int rows, int o0, int o1, float scale, int add,
                     float *y, int out) {
    int vec = cols / 8 * 8;
    for (int r = 0; r < rows; r++) {
        const float *xr = x + (int64_t) r * cols;
        float *yr = y + (int64_t) r * out;
        for (int o = o0; o < o1; o += 2) {
            int pair = o + 1 < o1;
            const uint16_t *w0 = w + (int64_t) o * cols, *w1 = pair ? w0 + cols : w0;
            __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
            for (int i = 0; i < vec; i += 8) {
                if ((i & 31) == 0) {
                    _mm_prefetch((const char *) (w0 + i) + 1024, _MM_HINT_T0);
                    _mm_prefetch((const char *) (w1 + i) + 1024, _MM_HINT_T0);
                }
                __m256 u = _mm256_loadu_ps(xr + i);
                a0 = _mm256_fmadd_ps(u, bf16x8(w0 + i), a0);
                a1 = _mm256_fmadd_ps(u, bf16x8(w1 + i), a1);
            }
            float s0 = lanes_in_order(a0), s1 = lanes_in_order(a1);
            for (int i = vec; i < cols; i++) {
                s0 += xr[i] * bf16_to_float(w0[i]);
                s1 += xr[i] * bf16_to_float(w1[i]);
            }
            float *at = yr + (o - o0);
            at[0] = add ? at[0] + scale * s0 : scale * s0;
            if (pair) at[1] = add ? at[1] + scale * s1 : scale * s1;
        }
    }
}
