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
