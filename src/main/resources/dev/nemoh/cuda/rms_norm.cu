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
