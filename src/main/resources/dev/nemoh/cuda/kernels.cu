// nemoh's GPU kernels, compiled at run time by NVRTC for the GPU at hand (see CudaKernels).
// Activations are float32; weights and the KV cache are bf16 (stored as raw 16-bit patterns, so no CUDA header
// is needed). Rows of activation matrices are tokens: [rows, width] row-major.
//
// Sequences in a batched decode step each own their state buffers; kernels reach them through device tables of
// pointers (one entry per sequence), so one launch serves the whole batch.

typedef unsigned short bf16;
typedef unsigned long long u64;

// NVRTC compiles without the C headers, so no INFINITY macro
#define NEG_INF __int_as_float(0xff800000)

__device__ __forceinline__ float bf(bf16 u) { return __uint_as_float(((unsigned) u) << 16); }

__device__ __forceinline__ bf16 to_bf(float f) {
    unsigned u = __float_as_uint(f);
    if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x7fffffu)) return (bf16) ((u >> 16) | 0x40); // keep NaN a NaN
    u += 0x7fffu + ((u >> 16) & 1u); // round to nearest even
    return (bf16) (u >> 16);
}

__device__ __forceinline__ float silu(float x) { return x / (1.f + __expf(-x)); }

__device__ __forceinline__ float softplus(float x) { return x > 20.f ? x : log1pf(expf(x)); }

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets the result.
__device__ float block_sum(float v) {
    __shared__ float partial[32];
    __shared__ float total;
    v = warp_sum(v);
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    if (warp == 0) {
        float s = lane < (blockDim.x >> 5) ? partial[lane] : 0.f;
        s = warp_sum(s);
        if (lane == 0) total = s;
    }
    __syncthreads();
    float r = total;
    __syncthreads();
    return r;
}

extern "C" __global__ void embed(const bf16* table, const int* ids, float* x, int hidden) {
    long row = blockIdx.x;
    const bf16* src = table + (long) ids[row] * hidden;
    for (int i = threadIdx.x; i < hidden; i += blockDim.x) x[row * hidden + i] = bf(src[i]);
}

// y = w · x / sqrt(mean(x²) + eps) over each group of one row; grid (rows, groups).
extern "C" __global__ void rms_norm(const float* x, const float* w, float* y, int dim, int group, float eps) {
    long base = (long) blockIdx.x * dim + blockIdx.y * group;
    float ss = 0.f;
    for (int i = threadIdx.x; i < group; i += blockDim.x) { float v = x[base + i]; ss += v * v; }
    float inv = rsqrtf(block_sum(ss) / group + eps);
    for (int i = threadIdx.x; i < group; i += blockDim.x) y[base + i] = w[blockIdx.y * group + i] * (x[base + i] * inv);
}

// Mamba's gated norm: g = y · SiLU(z), then RMSNorm of each group of g; z is the first `inner` columns of proj.
extern "C" __global__ void gated_rms_norm(const float* y, const float* proj, int projStride, const float* w, float* out,
                                          int inner, int group, float eps) {
    long row = blockIdx.x;
    int g0 = blockIdx.y * group;
    extern __shared__ float gated[];
    float ss = 0.f;
    for (int i = threadIdx.x; i < group; i += blockDim.x) {
        float v = y[row * inner + g0 + i] * silu(proj[row * projStride + g0 + i]);
        gated[i] = v;
        ss += v * v;
    }
    float inv = rsqrtf(block_sum(ss) / group + eps);
    for (int i = threadIdx.x; i < group; i += blockDim.x) out[row * inner + g0 + i] = w[g0 + i] * (gated[i] * inv);
}

extern "C" __global__ void to_bf16(const float* x, bf16* y, long n) {
    for (long i = blockIdx.x * (long) blockDim.x + threadIdx.x; i < n; i += (long) gridDim.x * blockDim.x) y[i] = to_bf(x[i]);
}

extern "C" __global__ void to_f32(const bf16* x, float* y, long n) {
    for (long i = blockIdx.x * (long) blockDim.x + threadIdx.x; i < n; i += (long) gridDim.x * blockDim.x) y[i] = bf(x[i]);
}

// x ← relu(x + bias)² or x ← x + bias (bias may be null): the epilogue of a cuBLAS product.
extern "C" __global__ void bias_act(float* x, const float* bias, long rows, int cols, int reluSquared) {
    long n = rows * cols;
    for (long i = blockIdx.x * (long) blockDim.x + threadIdx.x; i < n; i += (long) gridDim.x * blockDim.x) {
        float v = x[i] + (bias ? bias[i % cols] : 0.f);
        if (reluSquared) { v = fmaxf(v, 0.f); v *= v; }
        x[i] = v;
    }
}

// Deterministic pseudo-random fill, for synthetic benchmark contexts (never zeros).
extern "C" __global__ void fill_random_bf16(bf16* x, long n, unsigned seed, float scale) {
    for (long i = blockIdx.x * (long) blockDim.x + threadIdx.x; i < n; i += (long) gridDim.x * blockDim.x) {
        unsigned h = (unsigned) i * 2654435761u ^ seed;
        h ^= h >> 15; h *= 2246822519u; h ^= h >> 13; h *= 3266489917u; h ^= h >> 16;
        x[i] = to_bf(((h & 0xffffff) / 16777216.f - 0.5f) * scale);
    }
}

extern "C" __global__ void fill_random_f32(float* x, long n, unsigned seed, float scale) {
    for (long i = blockIdx.x * (long) blockDim.x + threadIdx.x; i < n; i += (long) gridDim.x * blockDim.x) {
        unsigned h = (unsigned) i * 2654435761u ^ seed;
        h ^= h >> 15; h *= 2246822519u; h ^= h >> 13; h *= 3266489917u; h ^= h >> 16;
        x[i] = ((h & 0xffffff) / 16777216.f - 0.5f) * scale;
    }
}

#define GEMV_MAX_ROWS 8
#define GEMV_LOADS 4

__device__ __forceinline__ void gemv_step(uint4 q, const float* __restrict__ x, int in, int k, int rows, float* acc) {
    float wf[8] = {bf(q.x & 0xffff), bf(q.x >> 16), bf(q.y & 0xffff), bf(q.y >> 16),
                   bf(q.z & 0xffff), bf(q.z >> 16), bf(q.w & 0xffff), bf(q.w >> 16)};
#pragma unroll
    for (int r = 0; r < GEMV_MAX_ROWS; r++) {
        if (r < rows) {
            const float4* xr = (const float4*) (x + (long) r * in + (k << 3));
            float4 a = xr[0], b = xr[1];
            acc[r] += wf[0] * a.x + wf[1] * a.y + wf[2] * a.z + wf[3] * a.w
                    + wf[4] * b.x + wf[5] * b.y + wf[6] * b.z + wf[7] * b.w;
        }
    }
}

// y[r, o] (+)= act(Σ_i W[o, i] · x[r, i] + bias[o]) for up to GEMV_MAX_ROWS activation rows: the decode path, where
// streaming W once at full bandwidth is all that matters. One warp per output; each lane issues GEMV_LOADS
// independent 16-byte loads of W before using any, so enough bytes are in flight to cover memory latency.
// act: 0 none, 1 relu².
extern "C" __global__ void __launch_bounds__(256, 2) gemv_bf16(const bf16* __restrict__ W, const float* __restrict__ x,
                                                            float* y, const float* bias, int out, int in, int rows,
                                                            int accumulate, int act) {
    int o = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (o >= out) return;
    const bf16* w = W + (long) o * in;
    float acc[GEMV_MAX_ROWS];
#pragma unroll
    for (int r = 0; r < GEMV_MAX_ROWS; r++) acc[r] = 0.f;
    if ((in & 7) == 0) {
        const uint4* __restrict__ w4 = (const uint4*) w;
        int steps = in >> 3;
        for (int k0 = lane; k0 < steps; k0 += 32 * GEMV_LOADS) {
            uint4 q[GEMV_LOADS];
#pragma unroll
            for (int u = 0; u < GEMV_LOADS; u++) {
                int k = k0 + 32 * u;
                q[u] = k < steps ? __ldg(w4 + k) : make_uint4(0, 0, 0, 0);
            }
#pragma unroll
            for (int u = 0; u < GEMV_LOADS; u++) {
                int k = k0 + 32 * u;
                if (k < steps) gemv_step(q[u], x, in, k, rows, acc);
            }
        }
    } else {
        for (int k = lane; k < in; k += 32) {
            float wk = bf(w[k]);
#pragma unroll
            for (int r = 0; r < GEMV_MAX_ROWS; r++) if (r < rows) acc[r] += wk * x[(long) r * in + k];
        }
    }
#pragma unroll
    for (int r = 0; r < GEMV_MAX_ROWS; r++) {
        if (r < rows) {
            float v = warp_sum(acc[r]);
            if (lane == 0) {
                if (bias) v += bias[o];
                if (act == 1) { v = fmaxf(v, 0.f); v *= v; }
                long at = (long) r * out + o;
                y[at] = accumulate ? y[at] + v : v;
            }
        }
    }
}

// Causal depthwise conv1d + SiLU over xBC (columns [inner, inner + convDim) of proj) for `len` tokens of each of
// `batch` sequences; positions before the call come from the sequence's conv state [convDim, K] (oldest first).
// grid (ceil(convDim / blockDim), len, batch).
extern "C" __global__ void conv1d(const float* proj, int projStride, int inner, const float* w, const float* bias,
                                  const u64* states, float* out, int len, int convDim, int K) {
    int ch = blockIdx.x * blockDim.x + threadIdx.x;
    int t = blockIdx.y, b = blockIdx.z;
    if (ch >= convDim) return;
    const float* state = (const float*) states[b] + (long) ch * K;
    const float* in = proj + (long) b * len * projStride + inner + ch;
    float acc = bias[ch];
    for (int j = 0; j < K; j++) {
        int src = t - (K - 1) + j;
        acc += w[ch * K + j] * (src >= 0 ? in[(long) src * projStride] : state[K + src]);
    }
    out[((long) b * len + t) * convDim + ch] = silu(acc);
}

// After conv1d: each channel's state keeps its last K inputs. In place: slot j reads slot len + j > j, or the input.
extern "C" __global__ void conv1d_state(const float* proj, int projStride, int inner, const u64* states, int len,
                                        int convDim, int K) {
    int ch = blockIdx.x * blockDim.x + threadIdx.x;
    int b = blockIdx.y;
    if (ch >= convDim) return;
    float* state = (float*) states[b] + (long) ch * K;
    const float* in = proj + (long) b * len * projStride + inner + ch;
    for (int j = 0; j < K; j++) {
        int src = len - K + j;
        state[j] = src >= 0 ? in[(long) src * projStride] : state[K + src];
    }
}

// One recurrent Mamba-2 step per sequence: S = exp(dt·A)·S + dt·x⊗B, y = S·C + D·x, dt = softplus(dt + dt_bias)
// clamped into [lo, hi]. grid (heads, batch); one warp per head channel p, lanes over the state.
extern "C" __global__ void ssm_step(const float* xBC, const float* proj, int projStride, int dtOffset,
                                    const float* dtBias, const float* A, const float* D, const u64* states, float* y,
                                    int heads, int headDim, int N, int groups, int inner, int convDim, float lo, float hi) {
    int h = blockIdx.x, b = blockIdx.y;
    int g = h / (heads / groups);
    float dt = fminf(fmaxf(softplus(proj[(long) b * projStride + dtOffset + h] + dtBias[h]), lo), hi);
    float decay = expf(dt * A[h]);
    const float* row = xBC + (long) b * convDim;
    const float* B = row + inner + g * N;
    const float* C = row + inner + groups * N + g * N;
    float* S = (float*) states[b] + (long) h * headDim * N;
    int lane = threadIdx.x & 31;
    for (int p = threadIdx.x >> 5; p < headDim; p += blockDim.x >> 5) {
        float x = row[h * headDim + p];
        float acc = 0.f;
        for (int n = lane; n < N; n += 32) {
            float s = decay * S[p * N + n] + dt * x * B[n];
            S[p * N + n] = s;
            acc += s * C[n];
        }
        acc = warp_sum(acc);
        if (lane == 0) y[(long) b * inner + h * headDim + p] = acc + D[h] * x;
    }
}

// --- Mamba-2 SSD chunked scan for one sequence of `len` tokens (prefill) ---------------------------------------
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

// C[t]·B[s] for s ≤ t within each chunk, shared by the heads of a group: cb [chunks, groups, chunk, chunk].
// grid (chunks, groups).
extern "C" __global__ void ssd_cb(const float* xBC, float* cb, int len, int chunk, int N, int groups, int inner, int convDim) {
    int c = blockIdx.x, g = blockIdx.y;
    int t0 = c * chunk, T = min(chunk, len - t0);
    float* out = cb + ((long) c * groups + g) * chunk * chunk;
    for (int e = threadIdx.x; e < T * T; e += blockDim.x) {
        int t = e / T, s = e % T;
        if (s > t) continue;
        const float* Ct = xBC + (long) (t0 + t) * convDim + inner + groups * N + g * N;
        const float* Bs = xBC + (long) (t0 + s) * convDim + inner + g * N;
        float acc = 0.f;
        for (int n = 0; n < N; n++) acc += Ct[n] * Bs[n];
        out[t * chunk + s] = acc;
    }
}

// Chunk-local final states Σ_s exp(cum[last] − cum[s]) · dt[s] · x[s] ⊗ B[s]: local [chunks, heads, N, headDim].
// grid (chunks, heads).
extern "C" __global__ void ssd_chunk_state(const float* xBC, const float* dt, const float* cum, float* local, int len,
                                           int chunk, int heads, int headDim, int N, int groups, int inner, int convDim) {
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
    for (int e = threadIdx.x; e < N * headDim; e += blockDim.x) {
        int n = e / headDim, p = e % headDim;
        const float* x = xBC + (long) t0 * convDim + h * headDim + p;
        const float* B = xBC + (long) t0 * convDim + inner + g * N + n;
        float acc = 0.f;
        for (int s = 0; s < T; s++) acc += w[s] * x[(long) s * convDim] * B[(long) s * convDim];
        out[e] = acc;
    }
}

// The sequential pass over chunks: records the state entering each chunk (sIn, [chunks, heads, N, headDim]) and
// leaves the final state in the sequence's SSM state ([heads, headDim, N]). grid (ceil(N·headDim / block), heads).
extern "C" __global__ void ssd_state_pass(const float* local, const float* cum, float* state, float* sIn, int len,
                                          int chunk, int heads, int headDim, int N) {
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
// grid (chunks, heads).
extern "C" __global__ void ssd_chunk_output(const float* xBC, const float* dt, const float* cum, const float* cb,
                                            const float* sIn, const float* D, float* y, int len, int chunk, int heads,
                                            int headDim, int N, int groups, int inner, int convDim) {
    __shared__ float cumS[MAX_CHUNK], dtS[MAX_CHUNK];
    int c = blockIdx.x, h = blockIdx.y;
    int g = h / (heads / groups);
    int t0 = c * chunk, T = min(chunk, len - t0);
    for (int s = threadIdx.x; s < T; s += blockDim.x) {
        cumS[s] = cum[(long) (t0 + s) * heads + h];
        dtS[s] = dt[(long) (t0 + s) * heads + h];
    }
    __syncthreads();
    const float* state = sIn + ((long) c * heads + h) * N * headDim;
    const float* cbc = cb + ((long) c * groups + g) * chunk * chunk;
    for (int e = threadIdx.x; e < T * headDim; e += blockDim.x) {
        int t = e / headDim, p = e % headDim;
        const float* row = xBC + (long) (t0 + t) * convDim;
        const float* Ct = row + inner + groups * N + g * N;
        float past = 0.f;
        for (int n = 0; n < N; n++) past += Ct[n] * state[n * headDim + p];
        float acc = expf(cumS[t]) * past;
        const float* x = xBC + (long) t0 * convDim + h * headDim + p;
        for (int s = 0; s <= t; s++) acc += expf(cumS[t] - cumS[s]) * cbc[t * chunk + s] * dtS[s] * x[(long) s * convDim];
        y[(long) (t0 + t) * inner + h * headDim + p] = acc + D[h] * row[h * headDim + p];
    }
}

// --- attention --------------------------------------------------------------------------------------------------
// KV caches are bf16, token-major [position, kvHeads, headDim], one pair of buffers per sequence and layer.

// Appends k and v of `len` tokens per sequence at its current length; qkv rows are [q | k | v].
// grid (len, batch).
extern "C" __global__ void kv_append(const float* qkv, int qkvStride, int kOffset, int vOffset, const u64* keys,
                                     const u64* values, const int* lengths, int len, int kvWidth) {
    int t = blockIdx.x, b = blockIdx.y;
    const float* row = qkv + ((long) b * len + t) * qkvStride;
    long at = (long) (lengths[b] + t) * kvWidth;
    bf16* k = (bf16*) keys[b] + at;
    bf16* v = (bf16*) values[b] + at;
    for (int i = threadIdx.x; i < kvWidth; i += blockDim.x) {
        k[i] = to_bf(row[kOffset + i]);
        v[i] = to_bf(row[vOffset + i]);
    }
}

#define MAX_HEAD_DIM 256

// One decode step (split-K "flash decoding"): block (b, kv head, split) scores keys [split·S, split·S + S) of
// sequence b for each query head of the group (one warp per query head, so the group's heads read each key row
// while it is in L1) and writes a partial (max, sum, Σ p·v) per query head and split. grid (kvHeads, splits, batch).
extern "C" __global__ void attn_decode_partial(const float* qkv, int qkvStride, const u64* keys, const u64* values,
                                               const int* lengths, float* partial, int heads, int kvHeads, int headDim,
                                               int splitLen, int maxSplits, float scale) {
    int kvh = blockIdx.x, split = blockIdx.y, b = blockIdx.z;
    int group = heads / kvHeads;
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int h = kvh * group + warp;
    int keysN = lengths[b] + 1;
    int s0 = split * splitLen, s1 = min(keysN, s0 + splitLen);
    const int per = (headDim + 31) / 32;
    float q[MAX_HEAD_DIM / 32], acc[MAX_HEAD_DIM / 32];
    const float* qh = qkv + (long) b * qkvStride + h * headDim;
#pragma unroll
    for (int j = 0; j < MAX_HEAD_DIM / 32; j++) {
        int d = lane + 32 * j;
        q[j] = j < per && d < headDim ? qh[d] * scale : 0.f;
        acc[j] = 0.f;
    }
    float m = NEG_INF, l = 0.f;
    int kvWidth = kvHeads * headDim;
    const bf16* K = (const bf16*) keys[b] + kvh * headDim;
    const bf16* V = (const bf16*) values[b] + kvh * headDim;
    for (int s = s0; s < s1; s++) {
        const bf16* k = K + (long) s * kvWidth;
        float dot = 0.f;
#pragma unroll
        for (int j = 0; j < MAX_HEAD_DIM / 32; j++) {
            int d = lane + 32 * j;
            if (j < per && d < headDim) dot += q[j] * bf(k[d]);
        }
        dot = warp_sum(dot);
        float mNew = fmaxf(m, dot);
        float corr = expf(m - mNew), p = expf(dot - mNew);
        l = l * corr + p;
        m = mNew;
        const bf16* v = V + (long) s * kvWidth;
#pragma unroll
        for (int j = 0; j < MAX_HEAD_DIM / 32; j++) {
            int d = lane + 32 * j;
            if (j < per && d < headDim) acc[j] = acc[j] * corr + p * bf(v[d]);
        }
    }
    float* out = partial + (((long) b * heads + h) * maxSplits + split) * (headDim + 2);
    if (lane == 0) { out[0] = m; out[1] = l; }
#pragma unroll
    for (int j = 0; j < MAX_HEAD_DIM / 32; j++) {
        int d = lane + 32 * j;
        if (j < per && d < headDim) out[2 + d] = acc[j];
    }
}

// Combines the splits of each (sequence, query head); grid (heads, batch), block ≥ headDim.
extern "C" __global__ void attn_decode_combine(const float* partial, const int* lengths, float* out, int heads,
                                               int headDim, int splitLen, int maxSplits) {
    int h = blockIdx.x, b = blockIdx.y, d = threadIdx.x;
    if (d >= headDim) return;
    int splits = (lengths[b] + 1 + splitLen - 1) / splitLen;
    const float* p = partial + ((long) b * heads + h) * maxSplits * (headDim + 2);
    float m = NEG_INF;
    for (int i = 0; i < splits; i++) m = fmaxf(m, p[i * (headDim + 2)]);
    float l = 0.f, acc = 0.f;
    for (int i = 0; i < splits; i++) {
        const float* part = p + i * (headDim + 2);
        float w = expf(part[0] - m);
        l += part[1] * w;
        acc += part[2 + d] * w;
    }
    out[((long) b * heads + h) * headDim + d] = acc / l;
}

// Row-wise causal softmax of prefill scores [rows, keys], in place: row i is the query at absolute position
// first + i and sees keys 0..first + i; later keys get weight 0. grid (rows).
extern "C" __global__ void causal_softmax(float* scores, int keys, int first) {
    float* row = scores + (long) blockIdx.x * keys;
    int visible = min(keys, first + (int) blockIdx.x + 1);
    __shared__ float red[32];
    float m = NEG_INF;
    for (int j = threadIdx.x; j < visible; j += blockDim.x) m = fmaxf(m, row[j]);
    for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    if (lane == 0) red[warp] = m;
    __syncthreads();
    m = NEG_INF;
    for (int i = 0; i < (int) (blockDim.x >> 5); i++) m = fmaxf(m, red[i]);
    __syncthreads();
    float sum = 0.f;
    for (int j = threadIdx.x; j < visible; j += blockDim.x) { float e = expf(row[j] - m); row[j] = e; sum += e; }
    float inv = 1.f / block_sum(sum);
    for (int j = threadIdx.x; j < keys; j += blockDim.x) row[j] = j < visible ? row[j] * inv : 0.f;
}

// Greedy pick per row of logits [rows, vocab]; grid (rows).
extern "C" __global__ void argmax(const float* logits, int vocab, int* out) {
    const float* row = logits + (long) blockIdx.x * vocab;
    float best = NEG_INF;
    int at = 0;
    for (int j = threadIdx.x; j < vocab; j += blockDim.x) if (row[j] > best) { best = row[j]; at = j; }
    __shared__ float bv[1024];
    __shared__ int bi[1024];
    bv[threadIdx.x] = best;
    bi[threadIdx.x] = at;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) {
            float v = bv[threadIdx.x + s];
            int i = bi[threadIdx.x + s];
            if (v > bv[threadIdx.x] || (v == bv[threadIdx.x] && i < bi[threadIdx.x])) { bv[threadIdx.x] = v; bi[threadIdx.x] = i; }
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) out[blockIdx.x] = bi[0];
}
