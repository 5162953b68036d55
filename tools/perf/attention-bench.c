/*
 * Times src/main/c/attention.c alone: one decode attention of 4 query heads (dim 128) over N cached keys, float32 and
 * bf16, single thread, with the keys and values in huge pages when HUGE is set (as the JVM's heap is with
 * -XX:+UseTransparentHugePages). Prints the last 3 of 20 × 32768/N repetitions.
 *   gcc -O2 -ffp-contract=off -o /tmp/attention-bench tools/perf/attention-bench.c src/main/c/attention.c -lm
 *   HUGE=1 /tmp/attention-bench 32768 2048     # keys, keys per call
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

void nemoh_attend_f32(const float *q, int group, int dim, const float *k, const float *v, int n, float scale,
                      float *max, float *sum, float *acc, float *scores);
void nemoh_attend_bf16(const float *q, int group, int dim, const uint16_t *k, const uint16_t *v, int n, float scale,
                       float *max, float *sum, float *acc, float *scores);

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void *big(size_t n) {
    size_t huge = (size_t) 1 << 21;
    void *p = aligned_alloc(huge, (n + huge - 1) & ~(huge - 1));
    if (getenv("HUGE")) madvise(p, n, MADV_HUGEPAGE);
    return p;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s KEYS KEYS_PER_CALL\n", argv[0]);
        return 2;
    }
    int n = atoi(argv[1]), chunk = atoi(argv[2]), dim = 128, group = 4;
    float *k = big(4L * n * dim), *v = big(4L * n * dim);
    uint16_t *kb = big(2L * n * dim), *vb = big(2L * n * dim);
    for (long i = 0; i < (long) n * dim; i++) {
        k[i] = rand() / (float) RAND_MAX - 0.5f;
        v[i] = rand() / (float) RAND_MAX - 0.5f;
        uint32_t b;
        memcpy(&b, &k[i], 4);
        kb[i] = b >> 16;
        memcpy(&b, &v[i], 4);
        vb[i] = b >> 16;
    }
    float q[4 * 128], max[4], sum[4], acc[4 * 128], scores[4 * 64];
    for (int i = 0; i < 4 * 128; i++) q[i] = rand() / (float) RAND_MAX;
    int iters = (int) (20L * 32768 / n);
    for (int it = 0; it < iters; it++) {
        for (int bf = 0; bf < 2; bf++) {
            for (int g = 0; g < group; g++) max[g] = -INFINITY, sum[g] = 0;
            memset(acc, 0, sizeof acc);
            double t = now();
            for (int s = 0; s < n; s += chunk) {
                int m = n - s < chunk ? n - s : chunk;
                if (bf) nemoh_attend_bf16(q, group, dim, kb + (long) s * dim, vb + (long) s * dim, m, 0.088f, max, sum, acc, scores);
                else nemoh_attend_f32(q, group, dim, k + (long) s * dim, v + (long) s * dim, m, 0.088f, max, sum, acc, scores);
            }
            t = now() - t;
            if (it >= iters - 3) {
                printf("%s: %.3f ms, %.1f GB/s of K/V, out %g\n", bf ? "bf16" : "f32 ", t * 1e3, (bf ? 2.0 : 4.0) * 2 * n * dim / t / 1e9,
                       acc[5] / sum[0]);
            }
        }
    }
    return 0;
}
