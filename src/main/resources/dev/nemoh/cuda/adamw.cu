// AdamW as torch.optim.AdamW (and nemoh's CPU AdamW) computes it, fused with gradient clipping and zeroing: one pass
// over the flat float32 buffers of every trainable parameter. Each operation is rounded on its own (the _rn
// intrinsics forbid fused multiply-adds), so the update has the CPU optimizer's bits for the same gradients.
extern "C" __global__ void adamw(float* value, float* grad, float* m, float* v, long n, float gradScale, float decay,
                                 float stepSize, float oneMinusBeta1, float beta2, float oneMinusBeta2, float eps,
                                 float bc2Sqrt) {
    begin_kernel();
    for (long i = blockIdx.x * (long) blockDim.x + threadIdx.x; i < n; i += (long) gridDim.x * blockDim.x) {
        float g = gradScale == 1.f ? grad[i] : __fmul_rn(grad[i], gradScale);
        float w = __fmul_rn(value[i], decay);
        float mi = __fadd_rn(m[i], __fmul_rn(oneMinusBeta1, __fsub_rn(g, m[i])));
        float vi = __fadd_rn(__fmul_rn(v[i], beta2), __fmul_rn(__fmul_rn(oneMinusBeta2, g), g));
        float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(vi), bc2Sqrt), eps);
        value[i] = __fsub_rn(w, __fmul_rn(stepSize, __fdiv_rn(mi, denom)));
        m[i] = mi;
        v[i] = vi;
        grad[i] = 0.f;
    }
}
