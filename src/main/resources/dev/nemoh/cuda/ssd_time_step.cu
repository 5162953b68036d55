// The time step's part of the SSD scan's gradient: dcum and ddt of each chunk and head from the scan's terms, the
// running sum cum = Σ A·dt carried into ddt and dA, then softplus and the clamp back to in_proj's dt columns.

// Per chunk and head: ddt [len, heads] (the gradient of the clamped dt), and partial sums over the chunk of dA and
// dD, [chunks, heads]. dm from ssd_bwd_dm, cb from ssd_cb, sIn and dStateOut the states entering and the gradients of
// the states leaving each chunk. grid (chunks, heads), block 256.
extern "C" __global__ void __launch_bounds__(256) ssd_bwd_dt(const float* xBC, const float* dy, const float* dt,
        const float* cum, const float* A, const float* dm, const float* cb, const float* sIn, const float* dStateOut,
        float* ddt, float* dAPart, float* dDPart, int len, int chunk, int heads, int headDim, int N, int groups,
        int inner, int convDim) {
    begin_kernel();
    __shared__ Tiles tiles;
    __shared__ float cumS[MAX_CHUNK], dtS[MAX_CHUNK], dcum[MAX_CHUNK], gdt[MAX_CHUNK], q1[MAX_CHUNK], qo[MAX_CHUNK],
            q2[MAX_CHUNK];
    __shared__ float partial[TILE_R * 16];
    __shared__ float asOutS[MAX_CHUNK];
    int c = blockIdx.x, h = blockIdx.y, g = h / (heads / groups);
    int t0 = c * chunk, T = min(chunk, len - t0);
    load_chunk_time(cum, dt, t0, T, heads, h, cumS, dtS);
    float last = cumS[T - 1];
    const float* dmc = dm + ((long) c * heads + h) * chunk * chunk;
    const float* cbc = cb + ((long) c * groups + g) * chunk * chunk;
    const float* s0 = sIn + ((long) c * heads + h) * N * headDim;
    const float* sOut = dStateOut + ((long) c * heads + h) * N * headDim;
    const float* x = xBC + (long) t0 * convDim + h * headDim;
    const float* B = xBC + (long) t0 * convDim + inner + g * N;
    const float* C = xBC + (long) t0 * convDim + inner + groups * N + g * N;
    const float* d = dy + (long) t0 * inner + h * headDim;
    // the states' terms need, per token, q1[t] = Σ_n C[t, n] · (dy[t] · S_in[n]) and qo[t] = Σ_n B[t, n] · (x[t] ·
    // dS_out[n]): two [T, N] products over headDim, each reduced with C or B row by row in the tile's epilogue
    int tr = (threadIdx.x >> 4) * 8, tc = (threadIdx.x & 15) * 4;
    for (int which = 0; which < 2; which++) {
        const float* rowsOf = which == 0 ? d : x;
        long rowStride = which == 0 ? inner : convDim;
        const float* state = which == 0 ? s0 : sOut;
        const float* with = which == 0 ? C : B;
        float* q = which == 0 ? q1 : qo;
        for (int t = threadIdx.x; t < T; t += blockDim.x) q[t] = 0.f;
        for (int r0 = 0; r0 < T; r0 += TILE_R) {
            for (int c0 = 0; c0 < N; c0 += TILE_C) {
                float acc[8][4];
                tile_clear(acc);
                tile_product<true, true>(acc, headDim, tiles,
                    [&](int r, int p) { return r0 + r < T ? rowsOf[(long) (r0 + r) * rowStride + p] : 0.f; },
                    [&](int p, int n) { return c0 + n < N ? state[(c0 + n) * headDim + p] : 0.f; });
                for (int i = 0; i < 8; i++) {
                    int t = r0 + tr + i;
                    float part = 0.f;
                    for (int j = 0; j < 4; j++) {
                        int n = c0 + tc + j;
                        if (t < T && n < N) part += acc[i][j] * with[(long) t * convDim + n];
                    }
                    partial[(tr + i) * 16 + (threadIdx.x & 15)] = part;
                }
                __syncthreads();
                // each row's 16 partial sums, in order
                for (int i = threadIdx.x; i < TILE_R; i += blockDim.x) {
                    if (r0 + i >= T) continue;
                    float sum = 0.f;
                    for (int j = 0; j < 16; j++) sum += partial[i * 16 + j];
                    q[r0 + i] += sum;
                }
                __syncthreads();
            }
        }
    }
    // intra-chunk terms as output t: a row of dM ∘ M, one warp a row so that its reads are contiguous
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    for (int t = warp; t < T; t += blockDim.x >> 5) {
        float a = 0.f;
        for (int s = lane; s <= t; s += 32) a += dmc[t * chunk + s] * expf(cumS[t] - cumS[s]) * cbc[t * chunk + s] * dtS[s];
        a = warp_sum(a);
        if (lane == 0) asOutS[t] = a;
    }
    __syncthreads();
    for (int t = threadIdx.x; t < T; t += blockDim.x) {
        // intra-chunk terms as input t (a column of dM ∘ M)
        float asOut = asOutS[t], asIn = 0.f, viaDt = 0.f;
        for (int u = t; u < T; u++) {
            float lcb = dmc[u * chunk + t] * expf(cumS[u] - cumS[t]) * cbc[u * chunk + t];
            viaDt += lcb;
            asIn += lcb * dtS[t];
        }
        float w = expf(last - cumS[t]);
        q2[t] = w * dtS[t] * qo[t];
        dcum[t] = asOut - asIn + expf(cumS[t]) * q1[t] - q2[t];
        gdt[t] = viaDt + w * qo[t];
    }
    float e = 0.f, dd = 0.f;
    for (int i = threadIdx.x; i < N * headDim; i += blockDim.x) e += sOut[i] * s0[i];
    for (int i = threadIdx.x; i < T * headDim; i += blockDim.x) {
        int t = i / headDim, p = i % headDim;
        dd += d[(long) t * inner + p] * x[(long) t * convDim + p];
    }
    e = block_sum(e);
    dd = block_sum(dd);
    if (threadIdx.x == 0) {
        // the leaving state's decay exp(cum[last]) multiplies S_in and every w[s]
        float lastTerm = expf(last) * e;
        for (int s = 0; s < T; s++) lastTerm += q2[s];
        dcum[T - 1] += lastTerm;
        float acc = 0.f, da = 0.f;
        for (int t = T - 1; t >= 0; t--) {
            acc += dcum[t];
            ddt[(long) (t0 + t) * heads + h] = gdt[t] + A[h] * acc;
            da += dtS[t] * acc;
        }
        dAPart[(long) c * heads + h] = da;
        dDPart[(long) c * heads + h] = dd;
    }
}

// Through dt = clamp(softplus(raw), lo, hi) with raw = in_proj's dt column + dt_bias: writes dProj's dt columns
// (zero where the clamp held, as torch's clamp) and each block's sum over its tokens into dDtBiasPart [blocks, heads],
// summed over the blocks after. One thread per head walks the block's `seg` tokens in order. grid (ceil(len / seg)),
// block ≥ heads.
extern "C" __global__ void ssd_dt_backward(const float* ddt, const float* proj, int projStride, int dtOffset,
                                           const float* dtBias, float* dProj, float* dDtBiasPart, int len, int heads,
                                           float lo, float hi, int seg) {
    begin_kernel();
    int h = threadIdx.x;
    if (h >= heads) return;
    int t0 = blockIdx.x * seg, t1 = min(len, t0 + seg);
    float sum = 0.f;
    for (int t = t0; t < t1; t++) {
        float raw = proj[(long) t * projStride + dtOffset + h] + dtBias[h];
        float v = softplus(raw);
        float g = v < lo || v > hi ? 0.f : ddt[(long) t * heads + h] * (raw > 20.f ? 1.f : sigmoid(raw));
        dProj[(long) t * projStride + dtOffset + h] = g;
        sum += g;
    }
    dDtBiasPart[(long) blockIdx.x * heads + h] = sum;
}

// dA_log (A = −exp(A_log), so dA_log = dA · A) and dD from the per-chunk partial sums, in chunk order; either output
// may be null (frozen). grid (1), block ≥ heads.
extern "C" __global__ void ssd_param_grads(const float* dAPart, const float* dDPart, const float* A, int chunks,
                                           int heads, float* dALog, float* dD) {
    begin_kernel();
    int h = blockIdx.x * blockDim.x + threadIdx.x;
    if (h >= heads) return;
    float da = 0.f, d = 0.f;
    for (int c = 0; c < chunks; c++) {
        da += dAPart[(long) c * heads + h];
        d += dDPart[(long) c * heads + h];
    }
    if (dALog) dALog[h] += da * A[h];
    if (dD) dD[h] += d;
}

// A = −exp(A_log), rounded once from double as the CPU model does. grid (ceil(heads / block)).
extern "C" __global__ void ssd_a_from_log(const float* aLog, float* A, int heads) {
    begin_kernel();
    int h = blockIdx.x * blockDim.x + threadIdx.x;
    if (h < heads) A[h] = (float) -exp((double) aLog[h]);
}
