// One recurrent Mamba-2 step per sequence: S = exp(dt·A)·S + dt·x⊗B, y = S·C + D·x, dt = softplus(dt + dt_bias)
// clamped into [lo, hi]. grid (heads, batch). A warp takes rows p of the head's state four at a time, lanes over the
// state with 16-byte accesses (N a multiple of 4), so each lane has four rows' loads in flight before it uses any.
#define SSM_ROWS 4

extern "C" __global__ void ssm_step(const float* xBC, const float* proj, int projStride, int dtOffset,
                                    const float* dtBias, const float* A, const float* D, const u64* states, float* y,
                                    int heads, int headDim, int N, int groups, int inner, int convDim, float lo, float hi) {
    begin_kernel();
    int h = blockIdx.x, b = blockIdx.y;
    int g = h / (heads / groups);
    float dt = fminf(fmaxf(softplus(proj[(long) b * projStride + dtOffset + h] + dtBias[h]), lo), hi);
    float decay = expf(dt * A[h]);
    const float* row = xBC + (long) b * convDim;
    const float4* B = (const float4*) (row + inner + g * N);
    const float4* C = (const float4*) (row + inner + groups * N + g * N);
    float4* S = (float4*) ((float*) states[b] + (long) h * headDim * N);
    int lane = threadIdx.x & 31, warps = blockDim.x >> 5, n4 = N >> 2;
    for (int p0 = (threadIdx.x >> 5) * SSM_ROWS; p0 < headDim; p0 += warps * SSM_ROWS) {
        float acc[SSM_ROWS], x[SSM_ROWS];
#pragma unroll
        for (int r = 0; r < SSM_ROWS; r++) {
            acc[r] = 0.f;
            x[r] = p0 + r < headDim ? row[h * headDim + p0 + r] : 0.f;
        }
        for (int n = lane; n < n4; n += 32) {
            float4 bn = B[n], cn = C[n], st[SSM_ROWS];
#pragma unroll
            for (int r = 0; r < SSM_ROWS; r++) if (p0 + r < headDim) st[r] = S[(long) (p0 + r) * n4 + n];
#pragma unroll
            for (int r = 0; r < SSM_ROWS; r++) {
                if (p0 + r < headDim) {
                    float dx = dt * x[r];
                    float4 v = make_float4(decay * st[r].x + dx * bn.x, decay * st[r].y + dx * bn.y,
                                           decay * st[r].z + dx * bn.z, decay * st[r].w + dx * bn.w);
                    S[(long) (p0 + r) * n4 + n] = v;
                    acc[r] += v.x * cn.x + v.y * cn.y + v.z * cn.z + v.w * cn.w;
                }
            }
        }
#pragma unroll
        for (int r = 0; r < SSM_ROWS; r++) {
            float v = warp_sum(acc[r]);
            if (lane == 0 && p0 + r < headDim) y[(long) b * inner + h * headDim + p0 + r] = v + D[h] * x[r];
        }
    }
}
