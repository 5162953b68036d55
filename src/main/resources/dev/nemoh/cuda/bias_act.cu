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
