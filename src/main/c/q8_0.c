/*
 * Q8_0 dot products for decode on x86-64 with AVX2, called from dev.nemoh.kernels.NativeKernels through FFM.
 *
 * Why native: the Vector API has no int8 multiply-add, so its Q8_0 block dot takes ~14 vector instructions per
 * 32 weights and on AVX2 machines streams the weights at ~65% of the memory bandwidth; AVX2's maddubs + madd take a
 * block in 4, the same integer sums. Built by scripts/build-native.sh when a C compiler is present; without it the
 * Vector API kernel runs. Layouts are QuantizedWeights' (see there): quants row-major, 32 per block; one float32
 * scale per block; the input quantized to Q8_0 blocks once per matmul.
 */
#include <immintrin.h>
#include <stdint.h>

__attribute__((target("avx2,fma")))
static float block_dots(const int8_t *qw, const float *dw, const int8_t *qx, const float *dx, int blocks) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc = _mm256_setzero_ps();
    for (int b = 0; b < blocks; b++) {
        __m256i w = _mm256_loadu_si256((const __m256i *) (qw + 32 * b));
        __m256i x = _mm256_loadu_si256((const __m256i *) (qx + 32 * b));
        /* maddubs takes one unsigned operand: |w| against x with w's sign moved onto it */
        __m256i pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
        __m256i sums = _mm256_madd_epi16(pairs, ones);
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), _mm256_set1_ps(dw[b] * dx[b]), acc);
    }
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/*
 * y[r * out + o - o0] = scale * dot(W[o], x[r]) (added to it when add != 0) for weight rows o in [o0, o1) and input
 * rows r in [0, rows). W: qw [weight rows][blocks * 32] int8, dw [weight rows][blocks]; x: qx [rows][blocks * 32],
 * dx [rows][blocks]. The caller passes y from output o0 on.
 */
__attribute__((target("avx2,fma")))
void nemoh_q8_0_dots(const int8_t *qw, const float *dw, const int8_t *qx, const float *dx, int blocks, int rows,
                     int o0, int o1, float scale, int add, float *y, int out) {
    for (int o = o0; o < o1; o++) {
        for (int r = 0; r < rows; r++) {
            float v = scale * block_dots(qw + (int64_t) o * blocks * 32, dw + (int64_t) o * blocks,
                                         qx + (int64_t) r * blocks * 32, dx + (int64_t) r * blocks, blocks);
            float *at = y + (int64_t) r * out + (o - o0);
            *at = add ? *at + v : v;
        }
    }
}
