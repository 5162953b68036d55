// DoRA's parts of an adapted linear layer (PEFT's formula, see LoraProjection): the row norms of the adapted weight,
// the rescaled output and its gradient. LoRA itself needs only products and axpy.

// norms[o] = ‖W[o] + s · BA[o]‖ with W bf16 (wBf16) or float32 (wF32, when wBf16 is null) and BA [out, in] float32.
// grid (out).
extern "C" __global__ void dora_row_norms(const bf16* wBf16, const float* wF32, const float* ba, float s, int in,
                                          float* norms) {
    begin_kernel();
    long base = (long) blockIdx.x * in;
    float ss = 0.f;
    for (int i = threadIdx.x; i < in; i += blockDim.x) {
        float w = (wBf16 ? bf(wBf16[base + i]) : wF32[base + i]) + s * ba[base + i];
        ss += w * w;
    }
    ss = block_sum(ss);
    if (threadIdx.x == 0) norms[blockIdx.x] = sqrtf(ss);
}

// y = m / norm · (W x + s · B A x) per output column o, in place over y (which holds W x); bx = B A x. n = rows · out.
extern "C" __global__ void dora_forward(float* y, const float* bx, const float* magnitude, const float* norms, float s,
                                        int out, long n) {
    begin_kernel();
    for (long i = blockIdx.x * (long) blockDim.x + threadIdx.x; i < n; i += (long) gridDim.x * blockDim.x) {
        int o = (int) (i % out);
        float scale = magnitude[o] / norms[o];
        y[i] = (scale - 1.f) * y[i] + scale * (s * bx[i]) + y[i];
    }
}

// The gradient of dora_forward with the norms held constant (as PEFT): dBx = m/norm · s · dy, dBase = (m/norm − 1)
// · dy, and magRows = dy · (W x + s · bx) / norm, summed over rows into the magnitude's gradient after. base = W x.
extern "C" __global__ void dora_backward(const float* dy, const float* base, const float* bx, const float* magnitude,
                                         const float* norms, float s, int out, long n, float* dBx, float* dBase,
                                         float* magRows) {
    begin_kernel();
    for (long i = blockIdx.x * (long) blockDim.x + threadIdx.x; i < n; i += (long) gridDim.x * blockDim.x) {
        int o = (int) (i % out);
        float scale = magnitude[o] / norms[o];
        dBx[i] = scale * s * dy[i];
        dBase[i] = (scale - 1.f) * dy[i];
        magRows[i] = dy[i] * (base[i] + s * bx[i]) / norms[o];
    }
}
