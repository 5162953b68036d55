/*
 * Decode attention on x86-64 with AVX2: one query token's GQA group against one KV head's cached keys and values,
 * float32 or bf16, called from dev.nemoh.kernels.CausalAttention through dev.nemoh.kernels.NativeKernels.
 *
 * Why native: at 32K tokens of context the KV cache is what a decode step of the 8B shape reads most after the
 * weights, and the Vector API version of this loop reads them far below the memory bandwidth: it stalls on
 * every cache miss (no prefetch instruction) and its value sum waits on FMA latency. Here the keys and
 * values are prefetched into L2 while the current ones are computed, scores go four keys at a time, and the value sum
 * keeps eight accumulators (two vectors for each of four query heads) in registers.
 *
 * NativeKernels goes through the keys in chunks, carrying the online softmax's running state between calls: max[g] and
 * sum[g] (the running maximum score and the sum of exp(score - max)) and acc[g * dim + d] (the value sum under that
 * maximum), so that no call holds the JVM off a safepoint for long. scores is scratch of group * BLOCK floats.
 */
#include <immintrin.h>
#include <math.h>
#include <stdint.h>

#define BLOCK 64
/* How far ahead keys and values are prefetched, in rows: the fastest of the distances timed with
   tools/perf/attention-bench.c (PERFORMANCE.md); a whole block ahead was clearly slower */
#define PREFETCH_KEYS 16
/* the largest head dimension the kernel takes (NativeKernels checks) */
#define MAX_DIM 256

__attribute__((target("avx2,fma")))
static inline __attribute__((always_inline)) __m256 load8(const void *base, int64_t i, int bf16) {
    if (bf16) {
        __m128i h = _mm_loadu_si128((const __m128i *) ((const uint16_t *) base + i));
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
    }
    return _mm256_loadu_ps((const float *) base + i);
}

__attribute__((target("avx2,fma")))
static inline __attribute__((always_inline)) float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* e^x for x <= 0, the range reduction and polynomial of Vec.exp (lanes below -87.34 give 0) */
__attribute__((target("avx2,fma")))
static inline __attribute__((always_inline)) __m256 exp8(__m256 x) {
    __m256 underflow = _mm256_cmp_ps(x, _mm256_set1_ps(-87.33654f), _CMP_LT_OQ);
    __m256 round = _mm256_set1_ps(12582912.0f);
    __m256 k = _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504f)), round), round);
    __m256 r = _mm256_fmadd_ps(k, _mm256_set1_ps(-0.693359375f), x);
    r = _mm256_fmadd_ps(k, _mm256_set1_ps(2.12194440e-4f), r);
    __m256 p = _mm256_fmadd_ps(_mm256_set1_ps(1.98412698e-4f), r, _mm256_set1_ps(1.38888889e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.33333333e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.16666667e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.66666667e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(k), _mm256_set1_epi32(127)), 23);
    return _mm256_andnot_ps(underflow, _mm256_mul_ps(p, _mm256_castsi256_ps(bits)));
}

/* Pulls rows [from, to) of a [rows, dim] matrix toward L2, a cache line at a time. */
static inline __attribute__((always_inline)) void prefetch_rows(const void *base, int64_t from, int64_t to, int dim, int bf16) {
    const char *p = (const char *) base + from * dim * (bf16 ? 2 : 4);
    const char *end = (const char *) base + to * dim * (bf16 ? 2 : 4);
    for (; p < end; p += 64) _mm_prefetch(p, _MM_HINT_T1);
}

/*
 * scores[g * BLOCK + j] = scale * q[g] . k[first + j] for the nb keys of a block and every query head g: four keys at
 * a time, each group of four rows read from memory once and reused from L1 by all the query heads; meanwhile the
 * rows PREFETCH_KEYS ahead are prefetched
 */
__attribute__((target("avx2,fma")))
static inline __attribute__((always_inline)) void block_scores(const float *q, int group, const void *k, const void *v,
                                                               int64_t first, int nb, int n, int dim, float scale,
                                                               float *scores, int bf16) {
    int j = 0;
    float wide[4 * MAX_DIM];
    for (; j + 4 <= nb; j += 4) {
        int64_t r = (first + j) * dim;
        const void *rows = k;
        if (bf16) {
            /* widened once here rather than once per query head below */
            for (int d = 0; d < 4 * dim; d += 8) _mm256_storeu_ps(wide + d, load8(k, r + d, 1));
            rows = wide;
            r = 0;
        }
        /* the keys and values PREFETCH_KEYS ahead, four rows per step rather than a block in one burst, which
           stalled on the core's outstanding-miss limit */
        int64_t ahead = first + j + PREFETCH_KEYS, aheadEnd = ahead + 4 < n ? ahead + 4 : n;
        if (ahead < aheadEnd) {
            prefetch_rows(k, ahead, aheadEnd, dim, bf16);
            prefetch_rows(v, ahead, aheadEnd, dim, bf16);
        }
        for (int g = 0; g < group; g++) {
            const float *qg = q + g * dim;
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            for (int d = 0; d < dim; d += 8) {
                __m256 x = _mm256_loadu_ps(qg + d);
                a0 = _mm256_fmadd_ps(load8(rows, r + d, 0), x, a0);
                a1 = _mm256_fmadd_ps(load8(rows, r + dim + d, 0), x, a1);
                a2 = _mm256_fmadd_ps(load8(rows, r + 2 * dim + d, 0), x, a2);
                a3 = _mm256_fmadd_ps(load8(rows, r + 3 * dim + d, 0), x, a3);
            }
            float *s = scores + g * BLOCK + j;
            s[0] = hsum(a0) * scale;
            s[1] = hsum(a1) * scale;
            s[2] = hsum(a2) * scale;
            s[3] = hsum(a3) * scale;
        }
    }
    for (; j < nb; j++) {
        for (int g = 0; g < group; g++) {
            __m256 a = _mm256_setzero_ps();
            for (int d = 0; d < dim; d += 8) {
                a = _mm256_fmadd_ps(load8(k, (first + j) * dim + d, bf16), _mm256_loadu_ps(q + g * dim + d), a);
            }
            scores[g * BLOCK + j] = hsum(a) * scale;
        }
    }
}

/*
 * acc[g][d] += sum_j p[g][j] * v[first + j][d] over the nb keys of a block for four query heads g (p rows BLOCK
 * apart, acc rows dim apart): sixteen columns at a time, the eight accumulators in registers through all the keys
 */
__attribute__((target("avx2,fma")))
static inline __attribute__((always_inline)) void block_values4(const float *p, const void *v, int64_t first, int nb,
                                                                int dim, float *acc, int bf16) {
    for (int d = 0; d < dim; d += 16) {
        float *c0 = acc + d, *c1 = c0 + dim, *c2 = c1 + dim, *c3 = c2 + dim;
        __m256 a0 = _mm256_loadu_ps(c0), b0 = _mm256_loadu_ps(c0 + 8), a1 = _mm256_loadu_ps(c1), b1 = _mm256_loadu_ps(c1 + 8);
        __m256 a2 = _mm256_loadu_ps(c2), b2 = _mm256_loadu_ps(c2 + 8), a3 = _mm256_loadu_ps(c3), b3 = _mm256_loadu_ps(c3 + 8);
        for (int j = 0; j < nb; j++) {
            int64_t r = (first + j) * dim + d;
            __m256 x = load8(v, r, bf16), y = load8(v, r + 8, bf16);
            __m256 w = _mm256_broadcast_ss(p + j);
            a0 = _mm256_fmadd_ps(x, w, a0);
            b0 = _mm256_fmadd_ps(y, w, b0);
            w = _mm256_broadcast_ss(p + BLOCK + j);
            a1 = _mm256_fmadd_ps(x, w, a1);
            b1 = _mm256_fmadd_ps(y, w, b1);
            w = _mm256_broadcast_ss(p + 2 * BLOCK + j);
            a2 = _mm256_fmadd_ps(x, w, a2);
            b2 = _mm256_fmadd_ps(y, w, b2);
            w = _mm256_broadcast_ss(p + 3 * BLOCK + j);
            a3 = _mm256_fmadd_ps(x, w, a3);
            b3 = _mm256_fmadd_ps(y, w, b3);
        }
        _mm256_storeu_ps(c0, a0), _mm256_storeu_ps(c0 + 8, b0), _mm256_storeu_ps(c1, a1), _mm256_storeu_ps(c1 + 8, b1);
        _mm256_storeu_ps(c2, a2), _mm256_storeu_ps(c2 + 8, b2), _mm256_storeu_ps(c3, a3), _mm256_storeu_ps(c3 + 8, b3);
    }
}

/* block_values4 for one query head */
__attribute__((target("avx2,fma")))
static inline __attribute__((always_inline)) void block_values1(const float *p, const void *v, int64_t first, int nb,
                                                                int dim, float *acc, int bf16) {
    for (int d = 0; d < dim; d += 16) {
        __m256 a = _mm256_loadu_ps(acc + d), b = _mm256_loadu_ps(acc + d + 8);
        for (int j = 0; j < nb; j++) {
            int64_t r = (first + j) * dim + d;
            __m256 w = _mm256_broadcast_ss(p + j);
            a = _mm256_fmadd_ps(load8(v, r, bf16), w, a);
            b = _mm256_fmadd_ps(load8(v, r + 8, bf16), w, b);
        }
        _mm256_storeu_ps(acc + d, a);
        _mm256_storeu_ps(acc + d + 8, b);
    }
}

__attribute__((target("avx2,fma")))
static inline __attribute__((always_inline)) void attend(const float *q, int group, int dim, const void *k, const void *v, int n, float scale,
                          float *max, float *sum, float *acc, float *scores, int bf16) {
    for (int s0 = 0; s0 < n; s0 += BLOCK) {
        int nb = n - s0 < BLOCK ? n - s0 : BLOCK;
        block_scores(q, group, k, v, s0, nb, n, dim, scale, scores, bf16);
        for (int g = 0; g < group; g++) {
            float *s = scores + g * BLOCK;
            float blockMax = -INFINITY;
            for (int j = 0; j < nb; j++) blockMax = s[j] > blockMax ? s[j] : blockMax;
            if (blockMax > max[g]) {
                /* rescale what was accumulated under the old maximum */
                float correction = expf(max[g] - blockMax);
                sum[g] *= correction;
                for (int d = 0; d < dim; d++) acc[g * dim + d] *= correction;
                max[g] = blockMax;
            }
            __m256 shift = _mm256_set1_ps(max[g]), total = _mm256_setzero_ps();
            int j = 0;
            for (; j + 8 <= nb; j += 8) {
                __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(s + j), shift));
                _mm256_storeu_ps(s + j, e);
                total = _mm256_add_ps(total, e);
            }
            float t = hsum(total);
            for (; j < nb; j++) {
                s[j] = expf(s[j] - max[g]);
                t += s[j];
            }
            sum[g] += t;
        }
        int g = 0;
        for (; g + 4 <= group; g += 4) block_values4(scores + g * BLOCK, v, s0, nb, dim, acc + g * dim, bf16);
        for (; g < group; g++) block_values1(scores + g * BLOCK, v, s0, nb, dim, acc + g * dim, bf16);
    }
}

/*
 * Continues the online softmax of `group` query heads q [group][dim] over n more cached keys k and values v
 * ([n][dim] float32, the chunk's first row first). dim must be a multiple of 16, at most MAX_DIM.
 */
__attribute__((target("avx2,fma")))
void nemoh_attend_f32(const float *q, int group, int dim, const float *k, const float *v, int n, float scale,
                      float *max, float *sum, float *acc, float *scores) {
    attend(q, group, dim, k, v, n, scale, max, sum, acc, scores, 0);
}

/* As nemoh_attend_f32, with bf16 keys and values. */
__attribute__((target("avx2,fma")))
void nemoh_attend_bf16(const float *q, int group, int dim, const uint16_t *k, const uint16_t *v, int n, float scale,
                       float *max, float *sum, float *acc, float *scores) {
    attend(q, group, dim, k, v, n, scale, max, sum, acc, scores, 1);
}
