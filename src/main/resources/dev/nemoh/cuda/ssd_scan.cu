// The Mamba-2 SSD chunked scan for one sequence of `len` tokens (prefill).
// Per chunk c and head h, with cum[t] = Σ_{u ≤ t in chunk} A·dt[u]:
//   y[t] = exp(cum[t]) · C[t]·S_in[c] + Σ_{s ≤ t} exp(cum[t] − cum[s]) · (C[t]·B[s]) · dt[s] · x[s] + D · x[t]
//   S_in[c + 1] = exp(cum[last]) · S_in[c] + Σ_s exp(cum[last] − cum[s]) · dt[s] · x[s] ⊗ B[s]
// Chunk-local states and the intra-chunk outputs are independent across chunks; only the short pass over chunk
// states is sequential. States in this section are [N, headDim] (p fastest) so that threads over p read
// consecutive addresses.

#define MAX_CHUNK 256

// dt and its within-chunk cumulative A·dt, [len, heads]; grid (chunks), block heads.
extern "C" __global__ void ssd_dt(const float* proj, int projStride, int dtOffset, const float* dtBias, const float* A,
                                  float* dt, float* cum, int len, int heads, int chunk, float lo, float hi) {
    begin_kernel();
    int h = threadIdx.x;
    if (h >= heads) return;
    int t0 = blockIdx.x * chunk, t1 = min(len, t0 + chunk);
    float acc = 0.f;
    for (int t = t0; t < t1; t++) {
        float d = fminf(fmaxf(softplus(proj[(long) t * projStride + dtOffset + h] + dtBias[h]), lo), hi);
        dt[(long) t * heads + h] = d;
        acc += A[h] * d;
        cum[(long) t * heads + h] = acc;
    }
}

// The three products of the scan run as shared-memory tiled matrix products: a block of 256 threads computes a
// TILE_R × TILE_C tile, each thread an 8 × 4 patch, over TILE_K-deep slices of the operands staged in shared memory
// (each operand element is read from global memory once per tile instead of once per output).
#define TILE_R 128
#define TILE_C 64
#define TILE_K 32

struct Tiles {
    float a[TILE_K][TILE_R + 4]; // [k][row]; rows padded to keep 16-byte reads aligned
    float b[TILE_K][TILE_C + 4]; // [k][col]
};

// acc += A · B over k in [0, K) for the tile's rows and columns: fa(r, k) and fb(k, c) read the operands (tile-local
// r and c; they return 0 outside them). A_K_FAST / B_K_FAST say whether consecutive k are adjacent in memory, which
// decides how the threads of a warp split a slice so that their loads are contiguous. Thread t owns rows
// (t / 16) · 8 + [0, 8) and columns (t % 16) · 4 + [0, 4). Every thread of the block must call it.
template <bool A_K_FAST, bool B_K_FAST, class FA, class FB>
__device__ __forceinline__ void tile_product(float (&acc)[8][4], int K, Tiles& t, FA fa, FB fb) {
    int tid = threadIdx.x, tr = (tid >> 4) * 8, tc = (tid & 15) * 4;
    for (int k0 = 0; k0 < K; k0 += TILE_K) {
        for (int i = tid; i < TILE_K * TILE_R; i += 256) {
            int r = A_K_FAST ? i / TILE_K : i % TILE_R, k = A_K_FAST ? i % TILE_K : i / TILE_R;
            t.a[k][r] = k0 + k < K ? fa(r, k0 + k) : 0.f;
        }
        for (int i = tid; i < TILE_K * TILE_C; i += 256) {
            int c = B_K_FAST ? i / TILE_K : i % TILE_C, k = B_K_FAST ? i % TILE_K : i / TILE_C;
            t.b[k][c] = k0 + k < K ? fb(k0 + k, c) : 0.f;
        }
        __syncthreads();
#pragma unroll 8
        for (int k = 0; k < TILE_K; k++) {
            float4 a0 = *(const float4*) &t.a[k][tr], a1 = *(const float4*) &t.a[k][tr + 4];
            float4 b0 = *(const float4*) &t.b[k][tc];
            float av[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w}, bv[4] = {b0.x, b0.y, b0.z, b0.w};
#pragma unroll
            for (int i = 0; i < 8; i++) {
#pragma unroll
                for (int j = 0; j < 4; j++) acc[i][j] += av[i] * bv[j];
            }
        }
        __syncthreads();
    }
}

__device__ __forceinline__ void tile_clear(float (&acc)[8][4]) {
#pragma unroll
    for (int i = 0; i < 8; i++) {
#pragma unroll
        for (int j = 0; j < 4; j++) acc[i][j] = 0.f;
    }
}

// out[t · chunk + s] = Σ_k fa(t, k) · fb(k, s) for s ≤ t < T, zero above the diagonal in the tiles it writes (tiles
// wholly above it are skipped): the causal products of a chunk. Every thread of the block must call it.
template <bool A_K_FAST, bool B_K_FAST, class FA, class FB>
__device__ __forceinline__ void causal_products(float* out, int T, int chunk, int K, Tiles& tiles, FA fa, FB fb) {
    int tr = (threadIdx.x >> 4) * 8, tc = (threadIdx.x & 15) * 4;
    for (int r0 = 0; r0 < T; r0 += TILE_R) {
        for (int c0 = 0; c0 < T && c0 < r0 + TILE_R; c0 += TILE_C) {
            float acc[8][4];
            tile_clear(acc);
            tile_product<A_K_FAST, B_K_FAST>(acc, K, tiles,
                [&](int r, int k) { return r0 + r < T ? fa(r0 + r, k) : 0.f; },
                [&](int k, int c) { return c0 + c < T ? fb(k, c0 + c) : 0.f; });
#pragma unroll
            for (int i = 0; i < 8; i++) {
#pragma unroll
                for (int j = 0; j < 4; j++) {
                    int t = r0 + tr + i, s = c0 + tc + j;
                    if (t < T && s < T) out[t * chunk + s] = s <= t ? acc[i][j] : 0.f;
                }
            }
        }
    }
}

// cumS, dtS [T] ← the running A·dt sum and dt of head h over the chunk from t0, then a barrier.
__device__ __forceinline__ void load_chunk_time(const float* cum, const float* dt, int t0, int T, int heads, int h,
                                                float* cumS, float* dtS) {
    for (int s = threadIdx.x; s < T; s += blockDim.x) {
        cumS[s] = cum[(long) (t0 + s) * heads + h];
        dtS[s] = dt[(long) (t0 + s) * heads + h];
    }
    __syncthreads();
}

// C[t]·B[s] for s ≤ t within each chunk, shared by the heads of a group: cb [chunks, groups, chunk, chunk] (entries
// above the diagonal are left unwritten or zero). grid (chunks, groups).
extern "C" __global__ void __launch_bounds__(256) ssd_cb(const float* xBC, float* cb, int len, int chunk, int N,
                                                         int groups, int inner, int convDim) {
    begin_kernel();
    __shared__ Tiles tiles;
    int c = blockIdx.x, g = blockIdx.y;
    int t0 = c * chunk, T = min(chunk, len - t0);
    const float* C = xBC + (long) t0 * convDim + inner + groups * N + g * N;
    const float* B = xBC + (long) t0 * convDim + inner + g * N;
    causal_products<true, true>(cb + ((long) c * groups + g) * chunk * chunk, T, chunk, N, tiles,
        [&](int t, int n) { return C[(long) t * convDim + n]; },
        [&](int n, int s) { return B[(long) s * convDim + n]; });
}

// Chunk-local final states Σ_s exp(cum[last] − cum[s]) · dt[s] · B[s] ⊗ x[s]: local [chunks, heads, N, headDim].
// grid (chunks, heads).
extern "C" __global__ void __launch_bounds__(256) ssd_chunk_state(const float* xBC, const float* dt, const float* cum,
        float* local, int len, int chunk, int heads, int headDim, int N, int groups, int inner, int convDim) {
    begin_kernel();
    __shared__ Tiles tiles;
    __shared__ float w[MAX_CHUNK];
    int c = blockIdx.x, h = blockIdx.y;
    int g = h / (heads / groups);
    int t0 = c * chunk, T = min(chunk, len - t0);
    float last = cum[(long) (t0 + T - 1) * heads + h];
    for (int s = threadIdx.x; s < T; s += blockDim.x) {
        w[s] = expf(last - cum[(long) (t0 + s) * heads + h]) * dt[(long) (t0 + s) * heads + h];
    }
    __syncthreads();
    float* out = local + ((long) c * heads + h) * N * headDim;
    const float* x = xBC + (long) t0 * convDim + h * headDim;
    const float* B = xBC + (long) t0 * convDim + inner + g * N;
    int tr = (threadIdx.x >> 4) * 8, tc = (threadIdx.x & 15) * 4;
    for (int r0 = 0; r0 < N; r0 += TILE_R) {
        for (int c0 = 0; c0 < headDim; c0 += TILE_C) {
            float acc[8][4];
            tile_clear(acc);
            tile_product<false, false>(acc, T, tiles,
                [&](int n, int s) { return r0 + n < N ? w[s] * B[(long) s * convDim + r0 + n] : 0.f; },
                [&](int s, int p) { return c0 + p < headDim ? x[(long) s * convDim + c0 + p] : 0.f; });
#pragma unroll
            for (int i = 0; i < 8; i++) {
#pragma unroll
                for (int j = 0; j < 4; j++) {
                    int n = r0 + tr + i, p = c0 + tc + j;
                    if (n < N && p < headDim) out[n * headDim + p] = acc[i][j];
                }
            }
        }
    }
}

// The sequential pass over chunks: records the state entering each chunk (sIn, [chunks, heads, N, headDim]) and
// leaves the final state in the sequence's SSM state ([heads, headDim, N]). grid (ceil(N·headDim / block), heads).
extern "C" __global__ void ssd_state_pass(const float* local, const float* cum, float* state, float* sIn, int len,
                                          int chunk, int heads, int headDim, int N) {
    begin_kernel();
    int e = blockIdx.x * blockDim.x + threadIdx.x, h = blockIdx.y;
    if (e >= N * headDim) return;
    int n = e / headDim, p = e % headDim;
    long at = ((long) h * headDim + p) * N + n;
    float s = state[at];
    int chunks = (len + chunk - 1) / chunk;
    for (int c = 0; c < chunks; c++) {
        long ci = ((long) c * heads + h) * N * headDim + e;
        sIn[ci] = s;
        int last = min(len, (c + 1) * chunk) - 1;
        s = expf(cum[(long) last * heads + h]) * s + local[ci];
    }
    state[at] = s;
}

// y for every token: the state entering its chunk, the intra-chunk quadratic form and the D skip; y [len, inner].
//   y[t] = exp(cum[t]) · Σ_n C[t, n] · S_in[n] + Σ_{s ≤ t} exp(cum[t] − cum[s]) · cb[t, s] · dt[s] · x[s] + D · x[t]
// grid (chunks, heads).
extern "C" __global__ void __launch_bounds__(256) ssd_chunk_output(const float* xBC, const float* dt, const float* cum,
        const float* cb, const float* sIn, const float* D, float* y, int len, int chunk, int heads, int headDim, int N,
        int groups, int inner, int convDim) {
    begin_kernel();
    __shared__ Tiles tiles;
    __shared__ float cumS[MAX_CHUNK], dtS[MAX_CHUNK];
    int c = blockIdx.x, h = blockIdx.y;
    int g = h / (heads / groups);
    int t0 = c * chunk, T = min(chunk, len - t0);
    load_chunk_time(cum, dt, t0, T, heads, h, cumS, dtS);
    const float* state = sIn + ((long) c * heads + h) * N * headDim;
    const float* cbc = cb + ((long) c * groups + g) * chunk * chunk;
    const float* C = xBC + (long) t0 * convDim + inner + groups * N + g * N;
    const float* x = xBC + (long) t0 * convDim + h * headDim;
    int tr = (threadIdx.x >> 4) * 8, tc = (threadIdx.x & 15) * 4;
    for (int r0 = 0; r0 < T; r0 += TILE_R) {
        for (int c0 = 0; c0 < headDim; c0 += TILE_C) {
            float acc[8][4];
            tile_clear(acc);
            tile_product<true, false>(acc, N, tiles,
                [&](int r, int n) { return r0 + r < T ? C[(long) (r0 + r) * convDim + n] : 0.f; },
                [&](int n, int p) { return c0 + p < headDim ? state[n * headDim + c0 + p] : 0.f; });
#pragma unroll
            for (int i = 0; i < 8; i++) {
                float decay = r0 + tr + i < T ? expf(cumS[r0 + tr + i]) : 0.f;
#pragma unroll
                for (int j = 0; j < 4; j++) acc[i][j] *= decay;
            }
            // causal: rows of this tile see keys s < r0 + TILE_R only
            tile_product<true, false>(acc, min(T, r0 + TILE_R), tiles,
                [&](int r, int s) {
                    int t = r0 + r;
                    return t < T && s <= t ? expf(cumS[t] - cumS[s]) * cbc[t * chunk + s] * dtS[s] : 0.f;
                },
                [&](int s, int p) { return c0 + p < headDim ? x[(long) s * convDim + c0 + p] : 0.f; });
#pragma unroll
            for (int i = 0; i < 8; i++) {
#pragma unroll
                for (int j = 0; j < 4; j++) {
                    int t = r0 + tr + i, p = c0 + tc + j;
                    if (t < T && p < headDim) {
                        y[(long) (t0 + t) * inner + h * headDim + p] = acc[i][j] + D[h] * x[(long) t * convDim + p];
                    }
                }
            }
        }
    }
}
