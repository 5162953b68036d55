// Nemotron-H's MLP activation relu(h)² and its gradient 2 · relu(h), elementwise.
extern "C" __global__ void relu2(const float* h, float* out, long n) {
    begin_kernel();
    for (long i = blockIdx.x * (long) blockDim.x + threadIdx.x; i < n; i += (long) gridDim.x * blockDim.x) {
        float r = fmaxf(h[i], 0.f);
        out[i] = r * r;
    }
}

// dh = dOut · 2 · relu(h); dh may be dOut (in place).
extern "C" __global__ void relu2_backward(const float* dOut, const float* h, float* dh, long n) {
    begin_kernel();
    for (long i = blockIdx.x * (long) blockDim.x + threadIdx.x; i < n; i += (long) gridDim.x * blockDim.x) {
        dh[i] = dOut[i] * (2.f * fmaxf(h[i], 0.f));
    }
}
