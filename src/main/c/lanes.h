/* Helpers shared by the native kernels (included, not compiled on its own). */
#ifndef NEMOH_LANES_H
#define NEMOH_LANES_H
#include <immintrin.h>

/* The lanes of v added in order from 0, as Vec.sum does: the kernels that promise the Vector API's bits use it. */
__attribute__((target("avx2,fma")))
static inline float lanes_in_order(__m256 v) {
    float lanes[8];
    _mm256_storeu_ps(lanes, v);
    float s = 0;
    for (int k = 0; k < 8; k++) s += lanes[k];
    return s;
}
#endif
