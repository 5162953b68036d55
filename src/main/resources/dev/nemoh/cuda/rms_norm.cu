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

// --- training ---------------------------------------------------------------------------------------------------

// rms_norm that also keeps each group's 1 / rms in rstd [rows, groups] for the backward. grid (rows, groups).
extern "C" __global__ void rms_norm_train(const float* x, const float* w, float* y, float* rstd, int dim, int group,
                                          float eps) {
    begin_kernel();
    long base = (long) blockIdx.x * dim + blockIdx.y * group;
    const float* wg = w + blockIdx.y * group;
    float ss = 0.f;
    for (int i = threadIdx.x; i < group; i += blockDim.x) { float v = x[base + i]; ss += v * v; }
    float inv = rsqrtf(block_sum(ss) / group + eps);
    for (int i = threadIdx.x; i < group; i += blockDim.x) y[base + i] = wg[i] * (x[base + i] * inv);
    if (threadIdx.x == 0) rstd[(long) blockIdx.x * gridDim.y + blockIdx.y] = inv;
}

// Gradient of y = w · x · r with r = 1 / sqrt(mean(x²) + eps), per group:
//   dx (+)= r · w · dy − r³ · mean(w · dy · x) · x,   dwRows[row] = dy · x · r  (summed over rows after).
// grid (rows, groups).
extern "C" __global__ void rms_norm_backward(const float* dy, const float* x, const float* w, const float* rstd,
                                             float* dx, float* dwRows, int dim, int group, int accumulate) {
    begin_kernel();
    long base = (long) blockIdx.x * dim + blockIdx.y * group;
    const float* wg = w + blockIdx.y * group;
    float inv = rstd[(long) blockIdx.x * gridDim.y + blockIdx.y];
    float dot = 0.f;
    for (int i = threadIdx.x; i < group; i += blockDim.x) dot += wg[i] * dy[base + i] * x[base + i];
    float coef = inv * inv * inv * block_sum(dot) / group;
    for (int i = threadIdx.x; i < group; i += blockDim.x) {
        float g = inv * wg[i] * dy[base + i] - coef * x[base + i];
        dx[base + i] = accumulate ? dx[base + i] + g : g;
        if (dwRows) dwRows[base + i] = dy[base + i] * x[base + i] * inv;
    }
}

// gated_rms_norm that keeps each group's 1 / rms in rstd [rows, groups]. grid (rows, groups).
extern "C" __global__ void gated_rms_norm_train(const float* y, const float* proj, int projStride, const float* w,
                                                float* out, float* rstd, int inner, int group, float eps) {
    begin_kernel();
    long row = blockIdx.x;
    int g0 = blockIdx.y * group;
    float ss = 0.f;
    for (int i = threadIdx.x; i < group; i += blockDim.x) {
        float v = y[row * inner + g0 + i] * silu(proj[row * projStride + g0 + i]);
        ss += v * v;
    }
    float inv = rsqrtf(block_sum(ss) / group + eps);
    for (int i = threadIdx.x; i < group; i += blockDim.x) {
        float v = y[row * inner + g0 + i] * silu(proj[row * projStride + g0 + i]);
        out[row * inner + g0 + i] = w[g0 + i] * (v * inv);
    }
    if (threadIdx.x == 0) rstd[row * gridDim.y + blockIdx.y] = inv;
}

// Gradient of the gated norm out = norm(y · SiLU(z)): into dy (written) and dz (written into proj's layout, the
// first `inner` columns of dProj), dwRows[row] = dOut · gated · r. grid (rows, groups).
extern "C" __global__ void gated_rms_norm_backward(const float* dOut, const float* y, const float* proj, int projStride,
                                                   const float* w, const float* rstd, float* dy, float* dProj,
                                                   float* dwRows, int inner, int group) {
    begin_kernel();
    long row = blockIdx.x;
    int g0 = blockIdx.y * group;
    float inv = rstd[row * gridDim.y + blockIdx.y];
    float dot = 0.f;
    for (int i = threadIdx.x; i < group; i += blockDim.x) {
        long at = row * inner + g0 + i;
        dot += w[g0 + i] * dOut[at] * y[at] * silu(proj[row * projStride + g0 + i]);
    }
    float coef = inv * inv * inv * block_sum(dot) / group;
    for (int i = threadIdx.x; i < group; i += blockDim.x) {
        long at = row * inner + g0 + i;
        float z = proj[row * projStride + g0 + i], sz = silu(z), gated = y[at] * sz;
        float dGated = inv * w[g0 + i] * dOut[at] - coef * gated;
        dy[at] = dGated * sz;
        dProj[row * projStride + g0 + i] = dGated * y[at] * silu_grad(z);
        if (dwRows) dwRows[at] = dOut[at] * gated * inv;
    }
}
