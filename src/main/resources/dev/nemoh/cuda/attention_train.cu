// Causal grouped-query attention for training, a block of query rows at a time: cuBLAS forms the block's scores
// q·kᵀ over the keys its rows can see, and the products with v; these kernels turn scores into probabilities and,
// in the backward, their gradient. Only each row's log-sum-exp is kept (lse [heads, len]); the backward recomputes
// the probabilities from it. The largest buffer is the scores of one block of rows, [heads, rows, keys].

// The block's raw scores s [heads, rows, keys] → probabilities in place, p = exp(scale · s − lse), zero for keys past
// the row's position (row i is position q0 + i); writes lse[h, q0 + i] and, when pb is not null, a bf16 copy of p.
// grid (rows, heads), block a multiple of 32.
extern "C" __global__ void attn_softmax(float* s, bf16* pb, float* lse, int rows, int keys, int q0, int len,
                                        float scale) {
    begin_kernel();
    int i = blockIdx.x, h = blockIdx.y, last = q0 + i;
    long base = ((long) h * rows + i) * keys;
    float* row = s + base;
    float mx = NEG_INF;
    for (int j = threadIdx.x; j <= last && j < keys; j += blockDim.x) mx = fmaxf(mx, scale * row[j]);
    mx = block_max(mx);
    float sum = 0.f;
    for (int j = threadIdx.x; j <= last && j < keys; j += blockDim.x) sum += expf(scale * row[j] - mx);
    float l = mx + logf(block_sum(sum));
    for (int j = threadIdx.x; j < keys; j += blockDim.x) {
        float p = j <= last ? expf(scale * row[j] - l) : 0.f;
        row[j] = p;
        if (pb) pb[base + j] = to_bf(p);
    }
    if (threadIdx.x == 0) lse[(long) h * len + last] = l;
}

// delta[h, t] = dout[t, h] · out[t, h], the softmax backward's row term. grid (len, heads), block 32.
extern "C" __global__ void attn_bwd_delta(const float* out, const float* dout, int outStride, float* delta, int len,
                                          int D) {
    begin_kernel();
    int t = blockIdx.x, h = blockIdx.y, lane = threadIdx.x;
    float s = 0.f;
    for (int d = lane; d < D; d += 32) s += out[(long) t * outStride + h * D + d] * dout[(long) t * outStride + h * D + d];
    s = warp_sum(s);
    if (lane == 0) delta[(long) h * len + t] = s;
}

// The backward of one block: s holds the recomputed raw scores and dp = dout · vᵀ [heads, rows, keys]. In place,
// s ← p = exp(scale · s − lse) (masked) and dp ← ds = p · (dp − delta) · scale, the scores' gradient; bf16 copies
// into pb and dsb when they are not null. grid (rows, heads).
extern "C" __global__ void attn_softmax_backward(float* s, bf16* pb, float* dp, bf16* dsb, const float* lse,
                                                 const float* delta, int rows, int keys, int q0, int len, float scale) {
    begin_kernel();
    int i = blockIdx.x, h = blockIdx.y, last = q0 + i;
    long base = ((long) h * rows + i) * keys;
    float l = lse[(long) h * len + last], dl = delta[(long) h * len + last];
    for (int j = threadIdx.x; j < keys; j += blockDim.x) {
        float p = j <= last ? expf(scale * s[base + j] - l) : 0.f;
        float ds = p * (dp[base + j] - dl) * scale;
        s[base + j] = p;
        dp[base + j] = ds;
        if (pb) pb[base + j] = to_bf(p);
        if (dsb) dsb[base + j] = to_bf(ds);
    }
}
