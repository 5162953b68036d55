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

// Programmatic dependent launch (sm_90 and later, when the host launches with it; see Cuda.launch): a kernel's
// blocks may start while the kernel before it in the stream is still running, so every kernel waits here before
// it reads what earlier kernels wrote or writes anything, and lets the next kernel start at once: its blocks then
// take the SMs the tail of this one leaves idle and can do work that needs no inputs (the GEMV streams weights).
__device__ __forceinline__ void begin_kernel() {
#if __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
    asm volatile("griddepcontrol.launch_dependents;");
#endif
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
    begin_kernel();
    long row = blockIdx.x;
    const bf16* src = table + (long) ids[row] * hidden;
    for (int i = threadIdx.x; i < hidden; i += blockDim.x) x[row * hidden + i] = bf(src[i]);
}

// y = w · x / sqrt(mean(x²) + eps) over each group of one row; grid (rows, groups). 16-byte accesses when the
// group and its offsets allow (group a multiple of 4), else scalar.
extern "C" __global__ void rms_norm(const float* x, const float* w, float* y, int dim, int group, float eps) {
    begin_kernel();
    long base = (long) blockIdx.x * dim + blockIdx.y * group;
    const float* wg = w + blockIdx.y * group;
    float ss = 0.f;
    if ((group & 3) == 0 && (dim & 3) == 0) {
        const float4* x4 = (const float4*) (x + base);
        for (int i = threadIdx.x; i < group >> 2; i += blockDim.x) {
            float4 v = x4[i];
            ss += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
        }
        float inv = rsqrtf(block_sum(ss) / group + eps);
        float4* y4 = (float4*) (y + base);
        const float4* w4 = (const float4*) wg;
        for (int i = threadIdx.x; i < group >> 2; i += blockDim.x) {
            float4 v = x4[i], s = w4[i];
            y4[i] = make_float4(s.x * (v.x * inv), s.y * (v.y * inv), s.z * (v.z * inv), s.w * (v.w * inv));
        }
        return;
    }
    for (int i = threadIdx.x; i < group; i += blockDim.x) { float v = x[base + i]; ss += v * v; }
    float inv = rsqrtf(block_sum(ss) / group + eps);
    for (int i = threadIdx.x; i < group; i += blockDim.x) y[base + i] = wg[i] * (x[base + i] * inv);
}

// Mamba's gated norm: g = y · SiLU(z), then RMSNorm of each group of g; z is the first `inner` columns of proj.
extern "C" __global__ void gated_rms_norm(const float* y, const float* proj, int projStride, const float* w, float* out,
                                          int inner, int group, float eps) {
    begin_kernel();
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

// Four elements per thread and step (16-byte loads) over n4 = n / 4 groups, then the n % 4 tail.
extern "C" __global__ void to_bf16(const float* x, bf16* y, long n) {
    begin_kernel();
    long n4 = n >> 2, stride = (long) gridDim.x * blockDim.x;
    for (long i = blockIdx.x * (long) blockDim.x + threadIdx.x; i < n4; i += stride) {
        float4 v = ((const float4*) x)[i];
        uint2 packed = make_uint2(to_bf(v.x) | ((unsigned) to_bf(v.y) << 16), to_bf(v.z) | ((unsigned) to_bf(v.w) << 16));
        ((uint2*) y)[i] = packed;
    }
    for (long i = 4 * n4 + blockIdx.x * (long) blockDim.x + threadIdx.x; i < n; i += stride) y[i] = to_bf(x[i]);
}

extern "C" __global__ void to_f32(const bf16* x, float* y, long n) {
    begin_kernel();
    for (long i = blockIdx.x * (long) blockDim.x + threadIdx.x; i < n; i += (long) gridDim.x * blockDim.x) y[i] = bf(x[i]);
}

__device__ __forceinline__ float bias_act1(float v, float b, int reluSquared) {
    v += b;
    if (reluSquared) { v = fmaxf(v, 0.f); v *= v; }
    return v;
}

// x ← relu(x + bias)² or x ← x + bias (bias may be null): the epilogue of a cuBLAS product. 16-byte steps when
// cols is a multiple of 4.
extern "C" __global__ void bias_act(float* x, const float* bias, long rows, int cols, int reluSquared) {
    begin_kernel();
    long n = rows * cols, stride = (long) gridDim.x * blockDim.x;
    if ((cols & 3) == 0) {
        for (long i = blockIdx.x * (long) blockDim.x + threadIdx.x; i < n >> 2; i += stride) {
            float4 v = ((float4*) x)[i];
            int c = (int) ((4 * i) % cols);
            float4 b = bias ? *(const float4*) (bias + c) : make_float4(0.f, 0.f, 0.f, 0.f);
            ((float4*) x)[i] = make_float4(bias_act1(v.x, b.x, reluSquared), bias_act1(v.y, b.y, reluSquared),
                                           bias_act1(v.z, b.z, reluSquared), bias_act1(v.w, b.w, reluSquared));
        }
        return;
    }
    for (long i = blockIdx.x * (long) blockDim.x + threadIdx.x; i < n; i += stride) {
        x[i] = bias_act1(x[i], bias ? bias[i % cols] : 0.f, reluSquared);
    }
}

// Deterministic pseudo-random fill, for synthetic benchmark contexts (never zeros).
extern "C" __global__ void fill_random_bf16(bf16* x, long n, unsigned seed, float scale) {
    begin_kernel();
    for (long i = blockIdx.x * (long) blockDim.x + threadIdx.x; i < n; i += (long) gridDim.x * blockDim.x) {
        unsigned h = (unsigned) i * 2654435761u ^ seed;
        h ^= h >> 15; h *= 2246822519u; h ^= h >> 13; h *= 3266489917u; h ^= h >> 16;
        x[i] = to_bf(((h & 0xffffff) / 16777216.f - 0.5f) * scale);
    }
}

extern "C" __global__ void fill_random_f32(float* x, long n, unsigned seed, float scale) {
    begin_kernel();
    for (long i = blockIdx.x * (long) blockDim.x + threadIdx.x; i < n; i += (long) gridDim.x * blockDim.x) {
        unsigned h = (unsigned) i * 2654435761u ^ seed;
        h ^= h >> 15; h *= 2246822519u; h ^= h >> 13; h *= 3266489917u; h ^= h >> 16;
        x[i] = ((h & 0xffffff) / 16777216.f - 0.5f) * scale;
    }
}

// A 16-byte load of streamed weights that skips L1, so the activations the same SM re-reads stay cached there.
__device__ __forceinline__ uint4 load_stream(const uint4* p) {
    uint4 r;
    asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
        : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w) : "l"(p));
    return r;
}

template <int ROWS>
__device__ __forceinline__ void gemv_step(uint4 q, const float* __restrict__ x, int in, int k, int rows, float* acc) {
    float wf[8] = {bf(q.x & 0xffff), bf(q.x >> 16), bf(q.y & 0xffff), bf(q.y >> 16),
                   bf(q.z & 0xffff), bf(q.z >> 16), bf(q.w & 0xffff), bf(q.w >> 16)};
#pragma unroll
    for (int r = 0; r < ROWS; r++) {
        if (r < rows) {
            const float4* xr = (const float4*) (x + (long) r * in + (k << 3));
            float4 a = xr[0], b = xr[1];
            acc[r] += wf[0] * a.x + wf[1] * a.y + wf[2] * a.z + wf[3] * a.w
                    + wf[4] * b.x + wf[5] * b.y + wf[6] * b.z + wf[7] * b.w;
        }
    }
}

// 16-byte weight loads each lane issues before using any: with 8 warps a block and several blocks an SM this keeps
// well over the ~20 KB per SM in flight that covering HBM latency at full bandwidth takes.
#define GEMV_LOADS 8
// Rounds of those loads a warp prefetches into L2 before a GEMV waits for its inputs: 8 KB a warp, some 34 MB over a
// full GPU of resident warps, inside the H100's 50 MB L2.
#define GEMV_PREFETCH_ROUNDS 2

// y[r, o] (+)= act(Σ_i W[o, i] · x[r, i] + bias[o]) for rows ≤ ROWS activation rows: the decode path, where
// streaming W once at full bandwidth is all that matters. One warp per output row. Full rounds of GEMV_LOADS loads
// run without bounds checks; one guarded round takes the rest of the row. act: 0 none, 1 relu².
// (Measured on the H100 and dropped: splitting each row over 2–8 warps to shorten the tail, and prefetching the
// rows of the block a wave later into L2; both made a decode step slower.) Runs after begin_kernel.
template <int ROWS>
__device__ __forceinline__ void gemv(const bf16* __restrict__ W, const float* __restrict__ x, float* y,
                                     const float* bias, int out, int in, int rows, int accumulate, int act) {
    int o = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (o >= out) return;
    const bf16* w = W + (long) o * in;
    float acc[ROWS];
#pragma unroll
    for (int r = 0; r < ROWS; r++) acc[r] = 0.f;
    if ((in & 7) == 0) {
        const uint4* __restrict__ w4 = (const uint4*) w;
        int steps = in >> 3, k0 = lane;
        for (; k0 + 32 * (GEMV_LOADS - 1) < steps; k0 += 32 * GEMV_LOADS) {
            uint4 q[GEMV_LOADS];
#pragma unroll
            for (int u = 0; u < GEMV_LOADS; u++) q[u] = load_stream(w4 + k0 + 32 * u);
#pragma unroll
            for (int u = 0; u < GEMV_LOADS; u++) gemv_step<ROWS>(q[u], x, in, k0 + 32 * u, rows, acc);
        }
        if (k0 < steps) {
            uint4 q[GEMV_LOADS];
#pragma unroll
            for (int u = 0; u < GEMV_LOADS; u++) {
                int k = k0 + 32 * u;
                q[u] = k < steps ? load_stream(w4 + k) : make_uint4(0, 0, 0, 0);
            }
#pragma unroll
            for (int u = 0; u < GEMV_LOADS; u++) {
                int k = k0 + 32 * u;
                if (k < steps) gemv_step<ROWS>(q[u], x, in, k, rows, acc);
            }
        }
    } else {
        for (int k = lane; k < in; k += 32) {
            float wk = bf(w[k]);
#pragma unroll
            for (int r = 0; r < ROWS; r++) if (r < rows) acc[r] += wk * x[(long) r * in + k];
        }
    }
#pragma unroll
    for (int r = 0; r < ROWS; r++) {
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

// Weights that depend on no earlier kernel, read by the GEMV's warp of output row o: the first rounds of that row are
// pulled into L2 before begin_kernel, while the kernel before ends.
__device__ __forceinline__ void gemv_prefetch(const bf16* W, int out, int in) {
    int o = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if ((in & 7) == 0 && o < out) {
        const uint4* w4 = (const uint4*) (W + (long) o * in);
        for (int k = lane; k < min(in >> 3, 32 * GEMV_LOADS * GEMV_PREFETCH_ROUNDS); k += 32) {
            asm volatile("prefetch.global.L2 [%0];" :: "l"(w4 + k));
        }
    }
}

// One instance per bound on the rows, so a single decoded sequence keeps one accumulator (few registers, more
// warps per SM). Past 2 rows cuBLAS is faster (see CudaLinear).
#define GEMV_KERNEL(R) \
    extern "C" __global__ void __launch_bounds__(256) gemv_bf16_##R(const bf16* __restrict__ W, const float* __restrict__ x, \
            float* y, const float* bias, int out, int in, int rows, int accumulate, int act) { \
        gemv_prefetch(W, out, in); \
        begin_kernel(); \
        gemv<R>(W, x, y, bias, out, in, rows, accumulate, act); \
    }
GEMV_KERNEL(1)
GEMV_KERNEL(2)

// --- mixture of experts -----------------------------------------------------------------------------------------
// A token's route: its k experts [rows, k], largest choice first, and their weights [rows, k]. The expert weights of a
// layer are stacked, [experts, out, in], so a kernel finds any expert's from its id.

// Router logits [rows, experts] = W · x + bias in float32 for every row count (bf16-rounded activations, as cuBLAS
// takes them, flip routing choices): the GEMV of one row for grid row y, so a token's sums are the same in a prompt
// and in a batched step.
extern "C" __global__ void __launch_bounds__(256) moe_router(const bf16* __restrict__ W, const float* bias,
                                                             const float* __restrict__ x, float* logits, int experts, int in) {
    gemv_prefetch(W, experts, in);
    begin_kernel();
    long r = blockIdx.y;
    gemv<1>(W, x + r * in, logits + r * experts, bias, experts, in, 1, 0, 0);
}

// MoeMixer.route on the device, one block per token and one thread per expert (blockDim a multiple of 32 covering
// the experts): sigmoid scores; choice = score + correction; with groups > 1, only the experts of the topkGroups
// groups whose two best choices sum highest stay eligible; the k best choices by rank (the number of experts that
// beat one: larger, or equal with a lower index), which all threads count at once instead of k scans; weights = the
// chosen plain scores, normalised over them when `normalize`, times `scaling`. grid (rows); dynamic shared memory
// 4 · (2 · experts + groups + k) bytes.
extern "C" __global__ void moe_route(const float* logits, const float* correction, int* chosen, float* weights,
                                     int experts, int k, int groups, int topkGroups, int normalize, float scaling) {
    begin_kernel();
    extern __shared__ float route[];
    float* score = route;
    float* choice = score + experts;
    float* groupScore = choice + experts;
    float* picked = groupScore + groups;
    long r = blockIdx.x;
    int e = threadIdx.x;
    if (e < experts) {
        float s = 1.f / (1.f + expf(-logits[r * experts + e]));
        float c = s + correction[e];
        score[e] = s;
        // a NaN is neither larger, smaller nor equal, so ranks would collide and leave slots unwritten; −∞ ranks last
        choice[e] = c == c ? c : NEG_INF;
    }
    __syncthreads();
    if (groups > 1) {
        int size = experts / groups;
        if (e < groups) {
            float best = NEG_INF, second = NEG_INF;
            for (int i = e * size; i < (e + 1) * size; i++) {
                float v = choice[i];
                if (v > best) { second = best; best = v; } else if (v > second) second = v;
            }
            groupScore[e] = best + second;
        }
        __syncthreads();
        if (e < experts) {
            int g = e / size, rank = 0;
            for (int j = 0; j < groups; j++) rank += groupScore[j] > groupScore[g] || (groupScore[j] == groupScore[g] && j < g);
            if (rank >= topkGroups) choice[e] = NEG_INF;
        }
        __syncthreads();
    }
    if (e < experts) {
        float v = choice[e];
        int rank = 0;
        for (int j = 0; j < experts; j++) rank += choice[j] > v || (choice[j] == v && j < e);
        if (rank < k) {
            chosen[r * k + rank] = e;
            picked[rank] = score[e];
        }
    }
    __syncthreads();
    if (e == 0) {
        float sum = 0.f;
        for (int i = 0; i < k; i++) sum += picked[i];
        float norm = normalize ? 1.f / (sum + 1e-20f) : 1.f;
        for (int i = 0; i < k; i++) weights[r * k + i] = picked[i] * norm * scaling;
    }
}

// One projection of the routed expert of each (token, slot) pair p = r · k + slot = blockIdx.y, the expert read from
// the route on the device, so a captured decode step serves whatever the router picks:
// y[p] = act(W[e] · x[p / xPerPair] + bias[e]) with e = chosen[p] (xPerPair k: the token's input; 1: the pair's own).
// The GEMV of one row, so a pair's sums do not depend on the batch. No prefetch: the weights to read are known only
// once the route is.
extern "C" __global__ void __launch_bounds__(256) moe_expert(const bf16* __restrict__ W, const float* bias,
        const int* chosen, const float* __restrict__ x, int xPerPair, float* y, int out, int in, int act) {
    begin_kernel();
    long p = blockIdx.y, e = chosen[p];
    gemv<1>(W + e * out * in, x + p / xPerPair * in, y + p * out, bias ? bias + e * out : bias, out, in, 1, 0, act);
}

// out[i] = x[index[i]] for rows of `width`: a prompt's tokens gathered by expert. grid (count).
extern "C" __global__ void gather_rows(const float* x, const int* index, float* out, int width) {
    begin_kernel();
    long i = blockIdx.x;
    const float* src = x + (long) index[i] * width;
    for (int c = threadIdx.x; c < width; c += blockDim.x) out[i * width + c] = src[c];
}

// y[r] (+)= Σ_slot weights[r, slot] · outs[hit(r, slot)] in slot order, hit(r, slot) = hits[r · k + slot], or
// r · k + slot when hits is null. A fixed order and no atomics: the same sums in every run and for a token alone or
// in a batch. grid (ceil(width / blockDim), rows).
extern "C" __global__ void moe_combine(const float* outs, const int* hits, const float* weights, float* y, int k,
                                       int width, int accumulate) {
    begin_kernel();
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    long r = blockIdx.y;
    if (c >= width) return;
    float acc = 0.f;
    for (int slot = 0; slot < k; slot++) {
        long p = r * k + slot;
        long hit = hits ? hits[p] : p;
        acc += weights[p] * outs[hit * width + c];
    }
    long at = r * width + c;
    y[at] = accumulate ? y[at] + acc : acc;
}

// Causal depthwise conv1d + SiLU over xBC (columns [inner, inner + convDim) of proj) for `len` tokens of each of
// `batch` sequences; positions before the call come from the sequence's conv state [convDim, K] (oldest first).
// grid (ceil(convDim / blockDim), len, batch).
extern "C" __global__ void conv1d(const float* proj, int projStride, int inner, const float* w, const float* bias,
                                  const u64* states, float* out, int len, int convDim, int K) {
    begin_kernel();
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
    begin_kernel();
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
// clamped into [lo, hi]. grid (heads, batch). A warp takes rows p of the head's state four at a time, lanes over the
// state with 16-byte accesses (N a multiple of 4), so each lane has four rows' loads in flight before it uses any.
#define SSM_ROWS 4

extern "C" __global__ void ssm_step(const float* xBC, const float* proj, int projStride, int dtOffset,
                                    const float* dtBias, const float* A, const float* D, const u64* states, float* y,
                                    int heads, int headDim, int N, int groups, int inner, int convDim, float lo, float hi) {
    begin_kernel();
    int h = blockIdx.x, b = blockIdx.y;
    int g = h / (heads / groups);
    float dt = fminf(fmaxf(softplus(proj[(long) b * projStride + dtOffset + h] + dtBias[h]), lo), hi);
    float decay = expf(dt * A[h]);
    const float* row = xBC + (long) b * convDim;
    const float4* B = (const float4*) (row + inner + g * N);
    const float4* C = (const float4*) (row + inner + groups * N + g * N);
    float4* S = (float4*) ((float*) states[b] + (long) h * headDim * N);
    int lane = threadIdx.x & 31, warps = blockDim.x >> 5, n4 = N >> 2;
    for (int p0 = (threadIdx.x >> 5) * SSM_ROWS; p0 < headDim; p0 += warps * SSM_ROWS) {
        float acc[SSM_ROWS], x[SSM_ROWS];
#pragma unroll
        for (int r = 0; r < SSM_ROWS; r++) {
            acc[r] = 0.f;
            x[r] = p0 + r < headDim ? row[h * headDim + p0 + r] : 0.f;
        }
        for (int n = lane; n < n4; n += 32) {
            float4 bn = B[n], cn = C[n], st[SSM_ROWS];
#pragma unroll
            for (int r = 0; r < SSM_ROWS; r++) if (p0 + r < headDim) st[r] = S[(long) (p0 + r) * n4 + n];
#pragma unroll
            for (int r = 0; r < SSM_ROWS; r++) {
                if (p0 + r < headDim) {
                    float dx = dt * x[r];
                    float4 v = make_float4(decay * st[r].x + dx * bn.x, decay * st[r].y + dx * bn.y,
                                           decay * st[r].z + dx * bn.z, decay * st[r].w + dx * bn.w);
                    S[(long) (p0 + r) * n4 + n] = v;
                    acc[r] += v.x * cn.x + v.y * cn.y + v.z * cn.z + v.w * cn.w;
                }
            }
        }
#pragma unroll
        for (int r = 0; r < SSM_ROWS; r++) {
            float v = warp_sum(acc[r]);
            if (lane == 0 && p0 + r < headDim) y[(long) b * inner + h * headDim + p0 + r] = v + D[h] * x[r];
        }
    }
}

// conv1d + conv1d_state for one token of each sequence (a decode step) in one pass: each thread owns one channel,
// so it can read the state, produce the output and shift the state in place. grid (ceil(convDim / blockDim), batch).
extern "C" __global__ void conv1d_step(const float* proj, int projStride, int inner, const float* w, const float* bias,
                                       const u64* states, float* out, int convDim, int K) {
    begin_kernel();
    int ch = blockIdx.x * blockDim.x + threadIdx.x;
    int b = blockIdx.y;
    if (ch >= convDim) return;
    float* state = (float*) states[b] + (long) ch * K;
    float in = proj[(long) b * projStride + inner + ch];
    float acc = bias[ch] + w[ch * K + K - 1] * in;
    for (int j = 0; j < K - 1; j++) {
        float s = state[j + 1];
        acc += w[ch * K + j] * s;
        state[j] = s;
    }
    state[K - 1] = in;
    out[(long) b * convDim + ch] = silu(acc);
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

// C[t]·B[s] for s ≤ t within each chunk, shared by the heads of a group: cb [chunks, groups, chunk, chunk] (entries
// above the diagonal are left unwritten or hold products nothing reads). grid (chunks, groups).
extern "C" __global__ void __launch_bounds__(256) ssd_cb(const float* xBC, float* cb, int len, int chunk, int N,
                                                         int groups, int inner, int convDim) {
    begin_kernel();
    __shared__ Tiles tiles;
    int c = blockIdx.x, g = blockIdx.y;
    int t0 = c * chunk, T = min(chunk, len - t0);
    float* out = cb + ((long) c * groups + g) * chunk * chunk;
    const float* C = xBC + (long) t0 * convDim + inner + groups * N + g * N;
    const float* B = xBC + (long) t0 * convDim + inner + g * N;
    int tr = (threadIdx.x >> 4) * 8, tc = (threadIdx.x & 15) * 4;
    for (int r0 = 0; r0 < T; r0 += TILE_R) {
        for (int c0 = 0; c0 < T && c0 < r0 + TILE_R; c0 += TILE_C) {
            float acc[8][4];
            tile_clear(acc);
            tile_product<true, true>(acc, N, tiles,
                [&](int r, int n) { return r0 + r < T ? C[(long) (r0 + r) * convDim + n] : 0.f; },
                [&](int n, int s) { return c0 + s < T ? B[(long) (c0 + s) * convDim + n] : 0.f; });
#pragma unroll
            for (int i = 0; i < 8; i++) {
#pragma unroll
                for (int j = 0; j < 4; j++) {
                    int t = r0 + tr + i, s = c0 + tc + j;
                    if (t < T && s < T) out[t * chunk + s] = acc[i][j];
                }
            }
        }
    }
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
    for (int s = threadIdx.x; s < T; s += blockDim.x) {
        cumS[s] = cum[(long) (t0 + s) * heads + h];
        dtS[s] = dt[(long) (t0 + s) * heads + h];
    }
    __syncthreads();
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

// --- attention --------------------------------------------------------------------------------------------------
// KV caches are bf16, token-major [position, kvHeads, headDim], one pair of buffers per sequence and layer.

// Appends k and v of `len` tokens per sequence at its current length; qkv rows are [q | k | v].
// grid (len, batch).
extern "C" __global__ void kv_append(const float* qkv, int qkvStride, int kOffset, int vOffset, const u64* keys,
                                     const u64* values, const int* lengths, int len, int kvWidth) {
    begin_kernel();
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

// A decoded token attends with a fixed number of blocks per (sequence, KV head), `splits`, whatever the context
// length: each block takes a contiguous share of the keys, so one launch shape serves every step. Inside a block a
// "lane group" of G lanes (a power of two, G · 8 ≥ headDim) reads one key row with one 16-byte load per lane and
// scores it for every query head of the GQA group at once; the lane groups walk their keys independently (online
// softmax, two keys in flight each), then merge through shared memory into one partial (max, sum, Σ p·v) per query
// head and split. grid (kvHeads, splits, batch); dynamic shared memory lanes/G · group · (headDim + 2) floats.
#define ATTN_MAX_GROUP 8

__device__ __forceinline__ void unpack8(uint4 q, float* f) {
    f[0] = bf(q.x & 0xffff); f[1] = bf(q.x >> 16); f[2] = bf(q.y & 0xffff); f[3] = bf(q.y >> 16);
    f[4] = bf(q.z & 0xffff); f[5] = bf(q.z >> 16); f[6] = bf(q.w & 0xffff); f[7] = bf(q.w >> 16);
}

template <int GROUP>
__device__ __forceinline__ void attend_key(const float (&q)[GROUP][8], uint4 kq, uint4 vq, bool valid, int G, int group,
                                           float* m, float* l, float (&acc)[GROUP][8]) {
    float kf[8], vf[8], dot[GROUP];
    unpack8(kq, kf);
    unpack8(vq, vf);
#pragma unroll
    for (int j = 0; j < GROUP; j++) {
        float d = 0.f;
#pragma unroll
        for (int i = 0; i < 8; i++) d += q[j][i] * kf[i];
        dot[j] = d;
    }
    for (int o = G >> 1; o > 0; o >>= 1) {
#pragma unroll
        for (int j = 0; j < GROUP; j++) dot[j] += __shfl_xor_sync(0xffffffffu, dot[j], o);
    }
    if (!valid) return;
#pragma unroll
    for (int j = 0; j < GROUP; j++) {
        if (j < group) {
            float mNew = fmaxf(m[j], dot[j]);
            float corr = __expf(m[j] - mNew), p = __expf(dot[j] - mNew);
            l[j] = l[j] * corr + p;
#pragma unroll
            for (int i = 0; i < 8; i++) acc[j][i] = acc[j][i] * corr + p * vf[i];
            m[j] = mNew;
        }
    }
}

template <int GROUP>
__device__ __forceinline__ void attn_decode(const float* qkv, int qkvStride, const u64* keys, const u64* values,
                                            const int* lengths, float* partial, int heads, int kvHeads, int headDim,
                                            int G, int splits, float scale) {
    extern __shared__ float merge[];
    // a GQA group of more than GROUP query heads is served in parts of GROUP by consecutive blocks along x
    int group = heads / kvHeads, parts = (group + GROUP - 1) / GROUP;
    int kvh = blockIdx.x / parts, first = blockIdx.x % parts * GROUP, split = blockIdx.y, b = blockIdx.z;
    int count = min(GROUP, group - first);
    int lg = threadIdx.x / G, sub = threadIdx.x % G, groups = blockDim.x / G, perWarp = 32 / G, warp = threadIdx.x >> 5;
    int keysN = lengths[b] + 1;
    int span = (keysN + splits - 1) / splits;
    int s0 = split * span, s1 = min(keysN, s0 + span);
    int d0 = sub * 8;
    bool active = d0 < headDim;
    float q[GROUP][8], acc[GROUP][8], m[GROUP], l[GROUP];
#pragma unroll
    for (int j = 0; j < GROUP; j++) {
        const float* qh = qkv + (long) b * qkvStride + (kvh * group + first + j) * headDim + d0;
#pragma unroll
        for (int i = 0; i < 8; i++) {
            q[j][i] = j < count && active ? qh[i] * scale : 0.f;
            acc[j][i] = 0.f;
        }
        m[j] = NEG_INF;
        l[j] = 0.f;
    }
    int kvWidth = kvHeads * headDim;
    const bf16* K = (const bf16*) keys[b] + kvh * headDim + d0;
    const bf16* V = (const bf16*) values[b] + kvh * headDim + d0;
    uint4 zero = make_uint4(0, 0, 0, 0);
    // every lane of a warp runs the same iterations (the shuffles need them all); a key past s1 only pads
    for (int base = s0 + warp * perWarp; base < s1; base += 2 * groups) {
        int sa = base + lg % perWarp, sb = sa + groups;
        bool va = sa < s1, vb = sb < s1;
        uint4 ka = va && active ? *(const uint4*) (K + (long) sa * kvWidth) : zero;
        uint4 xa = va && active ? *(const uint4*) (V + (long) sa * kvWidth) : zero;
        uint4 kb = vb && active ? *(const uint4*) (K + (long) sb * kvWidth) : zero;
        uint4 xb = vb && active ? *(const uint4*) (V + (long) sb * kvWidth) : zero;
        attend_key<GROUP>(q, ka, xa, va, G, count, m, l, acc);
        attend_key<GROUP>(q, kb, xb, vb, G, count, m, l, acc);
    }
    // merge the lane groups: merge[lg][j][0] = max, [1] = sum, [2 + d] = Σ p·v
    int row = headDim + 2;
#pragma unroll
    for (int j = 0; j < GROUP; j++) {
        if (j < count) {
            float* at = merge + ((long) lg * count + j) * row;
            if (sub == 0) { at[0] = m[j]; at[1] = l[j]; }
            if (active) {
#pragma unroll
                for (int i = 0; i < 8; i++) at[2 + d0 + i] = acc[j][i];
            }
        }
    }
    __syncthreads();
    for (int e = threadIdx.x; e < count * headDim; e += blockDim.x) {
        int j = e / headDim, d = e % headDim;
        float mx = NEG_INF;
        for (int g = 0; g < groups; g++) mx = fmaxf(mx, merge[((long) g * count + j) * row]);
        float sum = 0.f, a = 0.f;
        if (mx != NEG_INF) {
            for (int g = 0; g < groups; g++) {
                const float* at = merge + ((long) g * count + j) * row;
                float w = __expf(at[0] - mx);
                sum += at[1] * w;
                a += at[2 + d] * w;
            }
        }
        float* out = partial + (((long) b * heads + kvh * group + first + j) * splits + split) * row;
        if (d == 0) { out[0] = mx; out[1] = sum; }
        out[2 + d] = a;
    }
}

#define ATTN_KERNEL(GR) \
    extern "C" __global__ void __launch_bounds__(128) attn_decode_partial_##GR(const float* qkv, int qkvStride, \
            const u64* keys, const u64* values, const int* lengths, float* partial, int heads, int kvHeads, \
            int headDim, int G, int splits, float scale) { begin_kernel(); \
        attn_decode<GR>(qkv, qkvStride, keys, values, lengths, partial, heads, kvHeads, headDim, G, splits, scale); \
    }
ATTN_KERNEL(1)
ATTN_KERNEL(2)
ATTN_KERNEL(4)
ATTN_KERNEL(8)

// Combines the splits of each (sequence, query head); a split with no keys has max −∞ and weighs 0.
// grid (heads, batch), block ≥ headDim.
extern "C" __global__ void attn_decode_combine(const float* partial, float* out, int heads, int headDim, int splits) {
    begin_kernel();
    int h = blockIdx.x, b = blockIdx.y, d = threadIdx.x;
    if (d >= headDim) return;
    const float* p = partial + ((long) b * heads + h) * splits * (headDim + 2);
    float m = NEG_INF;
#pragma unroll 8
    for (int i = 0; i < splits; i++) m = fmaxf(m, p[i * (headDim + 2)]);
    float l = 0.f, acc = 0.f;
#pragma unroll 8
    for (int i = 0; i < splits; i++) {
        const float* part = p + i * (headDim + 2);
        float w = __expf(part[0] - m);
        l += part[1] * w;
        acc += part[2 + d] * w;
    }
    out[((long) b * heads + h) * headDim + d] = acc / l;
}

// Row-wise causal softmax of prefill scores [rows, keys], in place: row i is the query at absolute position
// first + i and sees keys 0..first + i; later keys get weight 0. grid (rows).
extern "C" __global__ void causal_softmax(float* scores, int keys, int first) {
    begin_kernel();
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
    begin_kernel();
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
