/*
 * The prefill matmul's register tile on x86-64 with AVX2, called from dev.nemoh.kernels.MatMul through
 * dev.nemoh.kernels.NativeKernels: input rows against a block of weight rows already widened to float32, every output
 * with Vec.dot's exact bits on 8-lane vectors (one FMA chain over the row's whole vectors, lanes added in order, then
 * the tail with separate multiply and add; the library is built with -ffp-contract=off). The bits do not depend on
 * how rows and weight rows are grouped into tiles, so prefill, decode and batches of any size round alike.
 *
 * Why native: the Vector API tile (4 input rows x 2 weight rows) ran the prefill matmul well below llama.cpp's tiles
 * (PERFORMANCE.md); a wider tile in C keeps 12 accumulators in registers where C2 spilled.
 */
#include <immintrin.h>
#include <stdint.h>

#include "lanes.h"

/*
 * Four input rows (x0..x3, `rows` of them real, the others repeating x0) against three weight rows (w0..w2, `m` real):
 * 12 accumulators, and per 8 columns 3 weight loads and 4 input loads for 12 FMAs.
 */
__attribute__((target("avx2,fma")))
static inline __attribute__((always_inline)) void tile(const float *x0, const float *x1, const float *x2, const float *x3,
                                                       int rows, const float *w0, const float *w1, const float *w2, int m,
                                                       int in, float *y, int out, float scale, int add) {
    __m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00, a10 = a00, a11 = a00, a12 = a00;
    __m256 a20 = a00, a21 = a00, a22 = a00, a30 = a00, a31 = a00, a32 = a00;
    int vec = in / 8 * 8;
    for (int i = 0; i < vec; i += 8) {
        __m256 v0 = _mm256_loadu_ps(w0 + i), v1 = _mm256_loadu_ps(w1 + i), v2 = _mm256_loadu_ps(w2 + i);
        __m256 u = _mm256_loadu_ps(x0 + i);
        a00 = _mm256_fmadd_ps(u, v0, a00);
        a01 = _mm256_fmadd_ps(u, v1, a01);
        a02 = _mm256_fmadd_ps(u, v2, a02);
        u = _mm256_loadu_ps(x1 + i);
        a10 = _mm256_fmadd_ps(u, v0, a10);
        a11 = _mm256_fmadd_ps(u, v1, a11);
        a12 = _mm256_fmadd_ps(u, v2, a12);
        u = _mm256_loadu_ps(x2 + i);
        a20 = _mm256_fmadd_ps(u, v0, a20);
        a21 = _mm256_fmadd_ps(u, v1, a21);
        a22 = _mm256_fmadd_ps(u, v2, a22);
        u = _mm256_loadu_ps(x3 + i);
        a30 = _mm256_fmadd_ps(u, v0, a30);
        a31 = _mm256_fmadd_ps(u, v1, a31);
        a32 = _mm256_fmadd_ps(u, v2, a32);
    }
    float s[4][3] = {{lanes_in_order(a00), lanes_in_order(a01), lanes_in_order(a02)},
                     {lanes_in_order(a10), lanes_in_order(a11), lanes_in_order(a12)},
                     {lanes_in_order(a20), lanes_in_order(a21), lanes_in_order(a22)},
                     {lanes_in_order(a30), lanes_in_order(a31), lanes_in_order(a32)}};
    const float *xs[4] = {x0, x1, x2, x3}, *ws[3] = {w0, w1, w2};
    for (int r = 0; r < rows; r++) {
        for (int j = 0; j < m; j++) {
            float t = s[r][j];
            for (int i = vec; i < in; i++) t += xs[r][i] * ws[j][i];
            float *at = y + (int64_t) r * out + j;
            *at = add ? *at + scale * t : scale * t;
        }
    }
}

/*
 * y[r * out + j] (+)= scale * dot(x[r], w[j]) for input rows r in [0, rows) and weight rows j in [0, n): x [rows][in],
 * w [n][in] float32; the caller passes y from its first output column.
 */
__attribute__((target("avx2,fma")))
void nemoh_f32_tiles(const float *x, int rows, int in, const float *w, int n, float *y, int out, float scale, int add) {
    for (int j = 0; j < n; j += 3) {
        int m = n - j < 3 ? n - j : 3;
        const float *w0 = w + (int64_t) j * in, *w1 = m > 1 ? w0 + in : w0, *w2 = m > 2 ? w0 + 2 * (int64_t) in : w0;
        for (int r = 0; r < rows; r += 4) {
            int k = rows - r < 4 ? rows - r : 4;
            const float *x0 = x + (int64_t) r * in;
            tile(x0, k > 1 ? x0 + in : x0, k > 2 ? x0 + 2 * (int64_t) in : x0, k > 3 ? x0 + 3 * (int64_t) in : x0, k,
                 w0, w1, w2, m, in, y + (int64_t) r * out + j, out, scale, add);
        }
    }
}
