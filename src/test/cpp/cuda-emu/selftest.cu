// Kernels that only the emulator has, for its self-tests (CudaEmulatorTest): joined after nemoh's sources, so they
// can use common.cuh. Never given to NVRTC. Each writes what it observed; the test compares with what CUDA defines.

// Per thread, 16 results of warp operations: out[16 · t + j]. Lanes hold v = 100 · warp + lane.
extern "C" __global__ void emu_test_warp(float* out, int* bits) {
    int t = threadIdx.x, lane = t & 31, warp = t >> 5;
    float v = 100.f * warp + lane;
    float* o = out + 16 * t;
    o[0] = __shfl_xor_sync(0xffffffffu, v, 1);
    o[1] = __shfl_xor_sync(0xffffffffu, v, 16);
    o[2] = __shfl_xor_sync(0xffffffffu, v, 5, 8);      // width 8: stays inside the lane's group of 8
    o[3] = __shfl_sync(0xffffffffu, v, 7);
    o[4] = __shfl_sync(0xffffffffu, v, 3, 8);          // lane 3 of the lane's group of 8
    o[5] = __shfl_sync(0xffffffffu, v, lane ^ 31);     // a different source per lane
    o[6] = __shfl_up_sync(0xffffffffu, v, 2);          // lanes 0, 1 keep their own
    o[7] = __shfl_up_sync(0xffffffffu, v, 3, 16);
    o[8] = __shfl_down_sync(0xffffffffu, v, 4);        // lanes 28-31 keep their own
    o[9] = __shfl_down_sync(0xffffffffu, v, 1, 4);
    o[10] = warp_sum(v);
    o[11] = block_sum(v);
    bits[4 * t + 0] = (int) __ballot_sync(0xffffffffu, lane % 3 == 0);
    bits[4 * t + 1] = __any_sync(0xffffffffu, lane == 17);
    bits[4 * t + 2] = __all_sync(0xffffffffu, lane < 31);
    __syncwarp();
    // half warps on their own: two rounds with disjoint masks at once
    unsigned half = lane < 16 ? 0x0000ffffu : 0xffff0000u;
    o[12] = __shfl_xor_sync(half, v, 8);
    o[13] = __shfl_down_sync(half, v, 1, 16);
    bits[4 * t + 3] = __syncthreads_count(lane < 10);
    o[14] = (float) __reduce_add_sync(0xffffffffu, (unsigned) lane);
    o[15] = (float) __reduce_max_sync(0xffffffffu, lane == 9 ? 1000 : lane);
}

// The sum of each row of x [rows, n] by block_sum, one block per row; and of a single warp's lanes by warp_sum.
extern "C" __global__ void emu_test_block_sum(const float* x, float* out, int n) {
    const float* row = x + (long) blockIdx.x * n;
    float s = 0.f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) s += row[i];
    float total = block_sum(s);
    if (threadIdx.x == 0) out[blockIdx.x] = total;
}

// Reverses each block's slice through dynamic shared memory (extern __shared__), and counts blocks with atomics.
extern "C" __global__ void emu_test_dynamic_shared(const float* x, float* y, int* count, int n) {
    extern __shared__ float stage[];
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    stage[threadIdx.x] = i < n ? x[i] : 0.f;
    __syncthreads();
    int j = blockIdx.x * blockDim.x + (blockDim.x - 1 - threadIdx.x);
    if (j < n) y[j] = stage[threadIdx.x];
    if (threadIdx.x == 0) atomicAdd(count, 1);
}

// y = a · x + y; for graph capture tests.
extern "C" __global__ void emu_test_axpy(float* y, const float* x, float a, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = a * x[i] + y[i];
}

// Thread 0 waits at a barrier the others never reach: they wait at a shuffle for lane 0.
extern "C" __global__ void emu_test_deadlock(float* out) {
    float v = threadIdx.x;
    if (threadIdx.x == 0) {
        __syncthreads();
    } else if (threadIdx.x < 32) {
        v = __shfl_xor_sync(0xffffffffu, v, 1);
    }
    out[threadIdx.x] = v;
}

// Threads from n on leave; the rest sync their warp and reverse it among the lanes that are left (lanes of warp 1
// past n are not read). out[t] = the lane mirrored within the live lanes of t's warp, plus the warp's base.
extern "C" __global__ void emu_test_partial_warp(float* out, int n) {
    if ((int) threadIdx.x >= n) return;
    __syncwarp();
    unsigned live = __activemask();
    int lane = threadIdx.x & 31, last = 31 - __clz((int) live);
    float v = __shfl_sync(live, (float) threadIdx.x, last - lane);
    out[threadIdx.x] = v;
}

// Two warps reach two different barriers.
extern "C" __global__ void emu_test_divergent_barrier(float* out) {
    if (threadIdx.x < 32) {
        __syncthreads();
        out[threadIdx.x] = 1.f;
    } else {
        __syncthreads();
        out[threadIdx.x] = 2.f;
    }
}

// Lane `who` leaves before a full-warp shuffle.
extern "C" __global__ void emu_test_exited_lane(float* out, int who) {
    if (threadIdx.x == who) return;
    out[threadIdx.x] = warp_sum(1.f);
}

// Writes x[0 .. n + extra): past the end of an n-float buffer when extra > 0.
extern "C" __global__ void emu_test_write(float* x, int n, int extra) {
    for (int i = threadIdx.x; i < n + extra; i += blockDim.x) x[i] = 1.f;
}

extern "C" __global__ void emu_test_trap(int* x, int v) {
    if (threadIdx.x == 3 && blockIdx.x == 1) {
        assert(v != 3);
        __trap();
    }
    x[threadIdx.x] = 1;
}

extern "C" __global__ void __launch_bounds__(64) emu_test_bounded(int* x) { x[threadIdx.x] = 1; }

extern "C" __global__ void emu_test_divide(int* x, int d) { x[threadIdx.x] = 100 / d; }

// A float4 load from x + load (16-byte aligned when load is a multiple of 4) and a float2 store to x + store (8-byte
// aligned when store is even).
extern "C" __global__ void emu_test_vector_access(float* x, int load, int store) {
    float4 v = *(const float4*) (x + load);
    *(float2*) (x + store) = make_float2(v.x, v.y);
}
