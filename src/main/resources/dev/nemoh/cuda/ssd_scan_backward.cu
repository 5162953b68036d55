// Gradient of the SSD chunked scan (ssd_scan.cu) of one sequence from a zero initial state. With, per chunk and
// head, L[t, s] = exp(cum[t] − cum[s]) (s ≤ t), CB[t, s] = C[t]·B[s], M = L ∘ CB ∘ dt[s], w[s] = exp(cum[last] −
// cum[s]) · dt[s], S_in the state entering the chunk and dS_out = dL/d(state leaving it):
//   dx[s]  = Σ_t M[t, s] dy[t] + w[s] · dS_out B[s] + D dy[s]
//   dM     = dy · xᵀ;  dCB[t, s] = Σ_heads dM L dt[s]
//   dC[t]  = Σ_s dCB[t, s] B[s] + Σ_heads exp(cum[t]) S_in dy[t];  dB[s] = Σ_t dCB[t, s] C[t] + Σ_heads w[s] dS_outᵀ x[s]
//   dcum, ddt from the same terms, then cum's running sum of A·dt carries them into ddt and dA.
// The state gradients run backwards over chunks like the forward's state pass. Every sum runs in a fixed order.

// dS_local[c, h] = Σ_t exp(cum[t]) · C[t] ⊗ dy[t], [N, headDim]: the gradient a chunk's outputs send to its entering
// state. grid (chunks, heads).
extern "C" __global__ void __launch_bounds__(256) ssd_bwd_state_local(const float* xBC, const float* dy, const float* cum,
        float* dState, int len, int chunk, int heads, int headDim, int N, int groups, int inner, int convDim) {
    begin_kernel();
    __shared__ Tiles tiles;
    __shared__ float e[MAX_CHUNK];
    int c = blockIdx.x, h = blockIdx.y, g = h / (heads / groups);
    int t0 = c * chunk, T = min(chunk, len - t0);
    for (int t = threadIdx.x; t < T; t += blockDim.x) e[t] = expf(cum[(long) (t0 + t) * heads + h]);
    __syncthreads();
    float* out = dState + ((long) c * heads + h) * N * headDim;
    const float* C = xBC + (long) t0 * convDim + inner + groups * N + g * N;
    const float* d = dy + (long) t0 * inner + h * headDim;
    int tr = (threadIdx.x >> 4) * 8, tc = (threadIdx.x & 15) * 4;
    for (int r0 = 0; r0 < N; r0 += TILE_R) {
        for (int c0 = 0; c0 < headDim; c0 += TILE_C) {
            float acc[8][4];
            tile_clear(acc);
            tile_product<false, false>(acc, T, tiles,
                [&](int n, int t) { return r0 + n < N ? e[t] * C[(long) t * convDim + r0 + n] : 0.f; },
                [&](int t, int p) { return c0 + p < headDim ? d[(long) t * inner + c0 + p] : 0.f; });
            for (int i = 0; i < 8; i++) {
                for (int j = 0; j < 4; j++) {
                    int n = r0 + tr + i, p = c0 + tc + j;
                    if (n < N && p < headDim) out[n * headDim + p] = acc[i][j];
                }
            }
        }
    }
}

// Backwards over chunks: dStateOut[c] = the gradient of the state leaving chunk c (zero for the last: the final state
// is not used), from G[c] = dS_local[c] + exp(cum[last of c]) · G[c + 1]. grid (ceil(N · headDim / block), heads).
extern "C" __global__ void ssd_bwd_state_pass(const float* __restrict__ dState, const float* __restrict__ cum,
                                              float* __restrict__ dStateOut, int len, int chunk, int heads, int headDim,
                                              int N) {
    begin_kernel();
    int e = blockIdx.x * blockDim.x + threadIdx.x, h = blockIdx.y;
    if (e >= N * headDim) return;
    int chunks = (len + chunk - 1) / chunk;
    float running = 0.f;
    for (int c = chunks - 1; c >= 0; c--) {
        long at = ((long) c * heads + h) * N * headDim + e;
        int last = min(len, (c + 1) * chunk) - 1;
        dStateOut[at] = running;
        running = dState[at] + expf(cum[(long) last * heads + h]) * running;
    }
}

// dM[c, h][t, s] = dy[t] · x[s] for s ≤ t, [chunks, heads, chunk, chunk]. grid (chunks, heads).
extern "C" __global__ void __launch_bounds__(256) ssd_bwd_dm(const float* xBC, const float* dy, float* dm, int len,
        int chunk, int heads, int headDim, int inner, int convDim) {
    begin_kernel();
    __shared__ Tiles tiles;
    int c = blockIdx.x, h = blockIdx.y;
    int t0 = c * chunk, T = min(chunk, len - t0);
    const float* d = dy + (long) t0 * inner + h * headDim;
    const float* x = xBC + (long) t0 * convDim + h * headDim;
    causal_products<true, true>(dm + ((long) c * heads + h) * chunk * chunk, T, chunk, headDim, tiles,
        [&](int t, int p) { return d[(long) t * inner + p]; },
        [&](int p, int s) { return x[(long) s * convDim + p]; });
}

// dx of each head (the x columns of dxBC): Σ_{t ≥ s} M[t, s] dy[t] + w[s] · dS_out B[s] + D dy[s]; cb from ssd_cb.
// grid (chunks, heads).
extern "C" __global__ void __launch_bounds__(256) ssd_bwd_dx(const float* xBC, const float* dy, const float* dt,
        const float* cum, const float* cb, const float* dStateOut, const float* D, float* dxBC, int len, int chunk,
        int heads, int headDim, int N, int groups, int inner, int convDim) {
    begin_kernel();
    __shared__ Tiles tiles;
    __shared__ float cumS[MAX_CHUNK], dtS[MAX_CHUNK];
    int c = blockIdx.x, h = blockIdx.y, g = h / (heads / groups);
    int t0 = c * chunk, T = min(chunk, len - t0);
    load_chunk_time(cum, dt, t0, T, heads, h, cumS, dtS);
    float last = cumS[T - 1];
    const float* cbc = cb + ((long) c * groups + g) * chunk * chunk;
    const float* sOut = dStateOut + ((long) c * heads + h) * N * headDim;
    const float* B = xBC + (long) t0 * convDim + inner + g * N;
    const float* d = dy + (long) t0 * inner + h * headDim;
    int tr = (threadIdx.x >> 4) * 8, tc = (threadIdx.x & 15) * 4;
    for (int r0 = 0; r0 < T; r0 += TILE_R) {
        for (int c0 = 0; c0 < headDim; c0 += TILE_C) {
            float acc[8][4];
            tile_clear(acc);
            // outputs t ≥ s read input s: rows s of this tile see t from r0 on
            tile_product<false, false>(acc, T - r0, tiles,
                [&](int r, int k) {
                    int s = r0 + r, t = r0 + k;
                    return s < T && t >= s ? expf(cumS[t] - cumS[s]) * cbc[t * chunk + s] * dtS[s] : 0.f;
                },
                [&](int k, int p) { return c0 + p < headDim ? d[(long) (r0 + k) * inner + c0 + p] : 0.f; });
            tile_product<true, false>(acc, N, tiles,
                [&](int r, int n) {
                    int s = r0 + r;
                    return s < T ? expf(last - cumS[s]) * dtS[s] * B[(long) s * convDim + n] : 0.f;
                },
                [&](int n, int p) { return c0 + p < headDim ? sOut[n * headDim + c0 + p] : 0.f; });
            for (int i = 0; i < 8; i++) {
                for (int j = 0; j < 4; j++) {
                    int s = r0 + tr + i, p = c0 + tc + j;
                    if (s < T && p < headDim) {
                        long at = (long) (t0 + s) * convDim + h * headDim + p;
                        dxBC[at] = acc[i][j] + D[h] * d[(long) s * inner + p];
                    }
                }
            }
        }
    }
}

// dCB[c, g][t, s] = Σ_{heads of g} dM[t, s] · exp(cum[t] − cum[s]) · dt[s] for s ≤ t (0 above), [chunks, groups,
// chunk, chunk]. grid (chunks, groups).
extern "C" __global__ void ssd_bwd_dcb(const float* dm, const float* dt, const float* cum, float* dcb, int len,
                                       int chunk, int heads, int groups) {
    begin_kernel();
    int c = blockIdx.x, g = blockIdx.y, perGroup = heads / groups;
    int t0 = c * chunk, T = min(chunk, len - t0);
    float* out = dcb + ((long) c * groups + g) * chunk * chunk;
    for (int i = threadIdx.x; i < T * T; i += blockDim.x) {
        int t = i / T, s = i % T;
        float v = 0.f;
        if (s <= t) {
            for (int h = g * perGroup; h < (g + 1) * perGroup; h++) {
                float decay = expf(cum[(long) (t0 + t) * heads + h] - cum[(long) (t0 + s) * heads + h]);
                v += dm[((long) c * heads + h) * chunk * chunk + t * chunk + s] * decay * dt[(long) (t0 + s) * heads + h];
            }
        }
        out[t * chunk + s] = v;
    }
}

// dB and dC of each group (the B and C columns of dxBC):
//   dC[t] = Σ_s dCB[t, s] B[s] + Σ_h exp(cum_h[t]) · S_in_h dy_h[t],  dB[s] = Σ_t dCB[t, s] C[t] + Σ_h w_h[s] · dS_out_hᵀ x_h[s]
// grid (chunks, groups, 2 · ceil(N / TILE_C)): dC and dB of each block of state columns apart.
extern "C" __global__ void __launch_bounds__(256) ssd_bwd_dbc(const float* xBC, const float* dy, const float* dt,
        const float* cum, const float* dcb, const float* sIn, const float* dStateOut, float* dxBC, int len, int chunk,
        int heads, int headDim, int N, int groups, int inner, int convDim) {
    begin_kernel();
    __shared__ Tiles tiles;
    int c = blockIdx.x, g = blockIdx.y, perGroup = heads / groups;
    int which = blockIdx.z & 1, c0 = (blockIdx.z >> 1) * TILE_C; // which 0: dC, 1: dB; c0: the block's state columns
    int t0 = c * chunk, T = min(chunk, len - t0);
    const float* dcbc = dcb + ((long) c * groups + g) * chunk * chunk;
    const float* B = xBC + (long) t0 * convDim + inner + g * N;
    const float* C = xBC + (long) t0 * convDim + inner + groups * N + g * N;
    int tr = (threadIdx.x >> 4) * 8, tc = (threadIdx.x & 15) * 4;
    for (int r0 = 0; r0 < T; r0 += TILE_R) {
        float acc[8][4];
        tile_clear(acc);
        if (which == 0) {
            tile_product<true, false>(acc, T, tiles,
                [&](int r, int s) { return r0 + r < T ? dcbc[(r0 + r) * chunk + s] : 0.f; },
                [&](int s, int n) { return c0 + n < N ? B[(long) s * convDim + c0 + n] : 0.f; });
        } else {
            tile_product<false, false>(acc, T, tiles,
                [&](int r, int t) { return r0 + r < T ? dcbc[t * chunk + r0 + r] : 0.f; },
                [&](int t, int n) { return c0 + n < N ? C[(long) t * convDim + c0 + n] : 0.f; });
        }
        for (int h = g * perGroup; h < (g + 1) * perGroup; h++) {
            long stateAt = ((long) c * heads + h) * N * headDim;
            float last = cum[(long) (t0 + T - 1) * heads + h];
            if (which == 0) {
                const float* d = dy + (long) t0 * inner + h * headDim;
                const float* s0 = sIn + stateAt;
                tile_product<true, true>(acc, headDim, tiles,
                    [&](int r, int p) {
                        int t = r0 + r;
                        return t < T ? expf(cum[(long) (t0 + t) * heads + h]) * d[(long) t * inner + p] : 0.f;
                    },
                    [&](int p, int n) { return c0 + n < N ? s0[(c0 + n) * headDim + p] : 0.f; });
            } else {
                const float* x = xBC + (long) t0 * convDim + h * headDim;
                const float* sOut = dStateOut + stateAt;
                tile_product<true, true>(acc, headDim, tiles,
                    [&](int r, int p) {
                        int s = r0 + r;
                        if (s >= T) return 0.f;
                        long ts = (long) (t0 + s) * heads + h;
                        return expf(last - cum[ts]) * dt[ts] * x[(long) s * convDim + p];
                    },
                    [&](int p, int n) { return c0 + n < N ? sOut[(c0 + n) * headDim + p] : 0.f; });
            }
        }
        int col = inner + (which == 0 ? groups * N : 0) + g * N;
        for (int i = 0; i < 8; i++) {
            for (int j = 0; j < 4; j++) {
                int t = r0 + tr + i, n = c0 + tc + j;
                if (t < T && n < N) dxBC[(long) (t0 + t) * convDim + col + n] = acc[i][j];
            }
        }
    }
}
