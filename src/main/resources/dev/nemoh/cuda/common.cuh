// What every kernel file uses. nemoh's GPU kernels are one .cu file per op beside this header, joined after it in
// KernelSource's order into one program that NVRTC compiles at run time for the GPU at hand (see CudaKernels).
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

__device__ __forceinline__ float sigmoid(float x) { return 1.f / (1.f + __expf(-x)); }

// d silu(x) / dx
__device__ __forceinline__ float silu_grad(float x) {
    float s = sigmoid(x);
    return s * (1.f + x * (1.f - s));
}

__device__ __forceinline__ float softplus(float x) { return x > 20.f ? x : log1pf(expf(x)); }

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// Sum (or, with MAX, maximum) over the block (blockDim.x a multiple of 32, at most 1024); every thread gets it.
template <bool MAX>
__device__ float block_reduce(float v) {
    __shared__ float partial[32];
    __shared__ float total;
    v = MAX ? warp_max(v) : warp_sum(v);
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    if (warp == 0) {
        float s = lane < (blockDim.x >> 5) ? partial[lane] : MAX ? NEG_INF : 0.f;
        s = MAX ? warp_max(s) : warp_sum(s);
        if (lane == 0) total = s;
    }
    __syncthreads();
    float r = total;
    __syncthreads();
    return r;
}

__device__ __forceinline__ float block_sum(float v) { return block_reduce<false>(v); }

__device__ __forceinline__ float block_max(float v) { return block_reduce<true>(v); }
