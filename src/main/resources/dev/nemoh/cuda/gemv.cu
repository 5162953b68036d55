// A 16-byte load of streamed weights that skips L1, so the activations the same SM re-reads stay cached there.
// (The CPU emulator of the tests, src/test/cpp/cuda-emu, compiles these sources without __CUDA_ARCH__: a plain load.)
__device__ __forceinline__ uint4 load_stream(const uint4* p) {
#ifdef __CUDA_ARCH__
    uint4 r;
    asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
        : "=r"(r.x), "=r"(r.y), "=r"(r.z), "=r"(r.w) : "l"(p));
    return r;
#else
    return *p;
#endif
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
// Rounds of those loads a warp prefetches into L2 before a GEMV waits for its inputs: 8 KB a warp, few enough that
// what a full GPU of resident warps prefetches fits in L2.
#define GEMV_PREFETCH_ROUNDS 2

// y[r, o] (+)= act(Σ_i W[o, i] · x[r, i] + bias[o]) for rows ≤ ROWS activation rows: the decode path, where
// streaming W once at full bandwidth is all that matters. One warp per output row. Full rounds of GEMV_LOADS loads
// run without bounds checks; one guarded round takes the rest of the row. act: 0 none, 1 relu².
// (Tried and dropped, as both made a decode step slower: splitting each row over 2–8 warps to shorten the tail, and
// prefetching the rows of the block a wave later into L2.) Runs after begin_kernel.
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
#ifdef __CUDA_ARCH__
            asm volatile("prefetch.global.L2 [%0];" :: "l"(w4 + k));
#endif
        }
    }
}

// One instance per bound on the rows, so a single decoded sequence keeps one accumulator (few registers, more
// warps per SM). More rows go to cuBLAS (see CudaLinear).
#define GEMV_KERNEL(R) \
    extern "C" __global__ void __launch_bounds__(256) gemv_bf16_##R(const bf16* __restrict__ W, const float* __restrict__ x, \
            float* y, const float* bias, int out, int in, int rows, int accumulate, int act) { \
        gemv_prefetch(W, out, in); \
        begin_kernel(); \
        gemv<R>(W, x, y, bias, out, in, rows, accumulate, act); \
    }
GEMV_KERNEL(1)
GEMV_KERNEL(2)
