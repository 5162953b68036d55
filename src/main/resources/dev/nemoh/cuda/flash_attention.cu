// Causal grouped-query attention for training, in the flash-attention manner: softmax(q·kᵀ · scale) · v is computed
// a tile of keys at a time with a running maximum and sum per query row, and only each row's log-sum-exp is kept
// (lse [heads, len]) for the backward, which recomputes the probabilities: no [heads, len, len] buffer. One warp per
// query row (or key row, in dkv): each lane holds head-dim elements lane, lane + 32, ... (head dims up to 256).
// q [len, qStride] with head h at column h·D; k, v [len, kvStride] with kv head h / (heads / kvHeads) at its column.

#define ATT_MAX_D 256
#define ATT_LANE_D (ATT_MAX_D / 32)
#define ATT_TILE 16
#define ATT_WARPS 8
#define ATT_ROWS_PER_WARP 4
#define ATT_BLOCK_ROWS (ATT_WARPS * ATT_ROWS_PER_WARP)

__device__ __forceinline__ void att_load_row(const float* src, int D, float (&r)[ATT_LANE_D]) {
    int lane = threadIdx.x & 31;
    for (int j = 0; j < ATT_LANE_D; j++) r[j] = lane + 32 * j < D ? src[lane + 32 * j] : 0.f;
}

__device__ __forceinline__ float att_dot(const float (&r)[ATT_LANE_D], const float* row, int D) {
    int lane = threadIdx.x & 31;
    float s = 0.f;
    for (int j = 0; j < ATT_LANE_D; j++) if (lane + 32 * j < D) s += r[j] * row[lane + 32 * j];
    return warp_sum(s);
}

// Stages rows [first, first + ATT_TILE) of src (kv layout) into tile [ATT_TILE][D], zeros past len.
__device__ __forceinline__ void att_stage(float* tile, const float* src, long stride, int first, int len, int D) {
    for (int i = threadIdx.x; i < ATT_TILE * D; i += blockDim.x) {
        int r = i / D, d = i % D;
        tile[i] = first + r < len ? src[(long) (first + r) * stride + d] : 0.f;
    }
}

// out = softmax(q kᵀ · scale) v for the block's query rows of head blockIdx.y; lse[h, t] = log Σ exp(scores).
// grid (ceil(len / ATT_BLOCK_ROWS), heads), block ATT_WARPS · 32, dynamic shared 2 · ATT_TILE · D floats.
extern "C" __global__ void attn_fwd(const float* q, int qStride, const float* k, const float* v, int kvStride,
                                    float* out, int outStride, float* lse, int len, int heads, int kvHeads, int D,
                                    float scale) {
    begin_kernel();
    extern __shared__ float kvTiles[];
    float* kt = kvTiles;
    float* vt = kvTiles + ATT_TILE * D;
    int h = blockIdx.y, kvh = h / (heads / kvHeads), warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int row0 = blockIdx.x * ATT_BLOCK_ROWS;
    const float* kh = k + kvh * D;
    const float* vh = v + kvh * D;
    float qr[ATT_ROWS_PER_WARP][ATT_LANE_D], acc[ATT_ROWS_PER_WARP][ATT_LANE_D];
    float mx[ATT_ROWS_PER_WARP], sum[ATT_ROWS_PER_WARP];
    for (int r = 0; r < ATT_ROWS_PER_WARP; r++) {
        int t = row0 + warp * ATT_ROWS_PER_WARP + r;
        if (t < len) att_load_row(q + (long) t * qStride + h * D, D, qr[r]);
        for (int j = 0; j < ATT_LANE_D; j++) acc[r][j] = 0.f;
        mx[r] = NEG_INF;
        sum[r] = 0.f;
    }
    int lastRow = min(len, row0 + ATT_BLOCK_ROWS) - 1;
    for (int s0 = 0; s0 <= lastRow; s0 += ATT_TILE) {
        __syncthreads();
        att_stage(kt, kh, kvStride, s0, len, D);
        att_stage(vt, vh, kvStride, s0, len, D);
        __syncthreads();
        for (int r = 0; r < ATT_ROWS_PER_WARP; r++) {
            int t = row0 + warp * ATT_ROWS_PER_WARP + r;
            if (t >= len) continue;
            for (int j = 0; j < ATT_TILE && s0 + j <= t; j++) {
                float sc = att_dot(qr[r], kt + j * D, D) * scale;
                float m = fmaxf(mx[r], sc);
                float correction = expf(mx[r] - m), p = expf(sc - m);
                sum[r] = sum[r] * correction + p;
                for (int i = 0; i < ATT_LANE_D; i++) {
                    int d = lane + 32 * i;
                    if (d < D) acc[r][i] = acc[r][i] * correction + p * vt[j * D + d];
                }
                mx[r] = m;
            }
        }
    }
    for (int r = 0; r < ATT_ROWS_PER_WARP; r++) {
        int t = row0 + warp * ATT_ROWS_PER_WARP + r;
        if (t >= len) continue;
        float inv = 1.f / sum[r];
        for (int i = 0; i < ATT_LANE_D; i++) {
            int d = lane + 32 * i;
            if (d < D) out[(long) t * outStride + h * D + d] = acc[r][i] * inv;
        }
        if (lane == 0) lse[(long) h * len + t] = mx[r] + logf(sum[r]);
    }
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

// dq = scale · Σ_s p (dout · v[s] − delta) k[s] for the block's query rows of head blockIdx.y, p recomputed from lse.
// grid and block as attn_fwd.
extern "C" __global__ void attn_bwd_dq(const float* q, int qStride, const float* k, const float* v, int kvStride,
                                       const float* dout, int outStride, const float* lse, const float* delta,
                                       float* dq, int len, int heads, int kvHeads, int D, float scale) {
    begin_kernel();
    extern __shared__ float kvTiles[];
    float* kt = kvTiles;
    float* vt = kvTiles + ATT_TILE * D;
    int h = blockIdx.y, kvh = h / (heads / kvHeads), warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int row0 = blockIdx.x * ATT_BLOCK_ROWS;
    float qr[ATT_ROWS_PER_WARP][ATT_LANE_D], dor[ATT_ROWS_PER_WARP][ATT_LANE_D], acc[ATT_ROWS_PER_WARP][ATT_LANE_D];
    float rowLse[ATT_ROWS_PER_WARP], rowDelta[ATT_ROWS_PER_WARP];
    for (int r = 0; r < ATT_ROWS_PER_WARP; r++) {
        int t = row0 + warp * ATT_ROWS_PER_WARP + r;
        if (t < len) {
            att_load_row(q + (long) t * qStride + h * D, D, qr[r]);
            att_load_row(dout + (long) t * outStride + h * D, D, dor[r]);
            rowLse[r] = lse[(long) h * len + t];
            rowDelta[r] = delta[(long) h * len + t];
        }
        for (int j = 0; j < ATT_LANE_D; j++) acc[r][j] = 0.f;
    }
    int lastRow = min(len, row0 + ATT_BLOCK_ROWS) - 1;
    for (int s0 = 0; s0 <= lastRow; s0 += ATT_TILE) {
        __syncthreads();
        att_stage(kt, k + kvh * D, kvStride, s0, len, D);
        att_stage(vt, v + kvh * D, kvStride, s0, len, D);
        __syncthreads();
        for (int r = 0; r < ATT_ROWS_PER_WARP; r++) {
            int t = row0 + warp * ATT_ROWS_PER_WARP + r;
            if (t >= len) continue;
            for (int j = 0; j < ATT_TILE && s0 + j <= t; j++) {
                float p = expf(att_dot(qr[r], kt + j * D, D) * scale - rowLse[r]);
                float ds = p * (att_dot(dor[r], vt + j * D, D) - rowDelta[r]) * scale;
                for (int i = 0; i < ATT_LANE_D; i++) {
                    int d = lane + 32 * i;
                    if (d < D) acc[r][i] += ds * kt[j * D + d];
                }
            }
        }
    }
    for (int r = 0; r < ATT_ROWS_PER_WARP; r++) {
        int t = row0 + warp * ATT_ROWS_PER_WARP + r;
        if (t >= len) continue;
        for (int i = 0; i < ATT_LANE_D; i++) {
            int d = lane + 32 * i;
            if (d < D) dq[(long) t * qStride + h * D + d] = acc[r][i];
        }
    }
}

// dk and dv of the block's key rows of kv head blockIdx.y, over the query rows that see them and every query head
// of its group: dv = Σ p · dout, dk = scale · Σ p (dout · v − delta) q. grid (ceil(len / ATT_BLOCK_ROWS), kvHeads),
// block ATT_WARPS · 32, dynamic shared 2 · ATT_TILE · D floats.
extern "C" __global__ void attn_bwd_dkv(const float* q, int qStride, const float* k, const float* v, int kvStride,
                                        const float* dout, int outStride, const float* lse, const float* delta,
                                        float* dk, float* dv, int len, int heads, int kvHeads, int D, float scale) {
    begin_kernel();
    extern __shared__ float qTiles[];
    float* qt = qTiles;
    float* dt = qTiles + ATT_TILE * D;
    __shared__ float tileLse[ATT_TILE], tileDelta[ATT_TILE];
    int kvh = blockIdx.y, group = heads / kvHeads, warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int row0 = blockIdx.x * ATT_BLOCK_ROWS;
    float kr[ATT_ROWS_PER_WARP][ATT_LANE_D], vr[ATT_ROWS_PER_WARP][ATT_LANE_D];
    float dkr[ATT_ROWS_PER_WARP][ATT_LANE_D], dvr[ATT_ROWS_PER_WARP][ATT_LANE_D];
    for (int r = 0; r < ATT_ROWS_PER_WARP; r++) {
        int s = row0 + warp * ATT_ROWS_PER_WARP + r;
        if (s < len) {
            att_load_row(k + (long) s * kvStride + kvh * D, D, kr[r]);
            att_load_row(v + (long) s * kvStride + kvh * D, D, vr[r]);
        }
        for (int j = 0; j < ATT_LANE_D; j++) dkr[r][j] = dvr[r][j] = 0.f;
    }
    for (int h = kvh * group; h < (kvh + 1) * group; h++) {
        for (int t0 = row0 - row0 % ATT_TILE; t0 < len; t0 += ATT_TILE) {
            __syncthreads();
            att_stage(qt, q + h * D, qStride, t0, len, D);
            att_stage(dt, dout + h * D, outStride, t0, len, D);
            for (int i = threadIdx.x; i < ATT_TILE; i += blockDim.x) {
                tileLse[i] = t0 + i < len ? lse[(long) h * len + t0 + i] : 0.f;
                tileDelta[i] = t0 + i < len ? delta[(long) h * len + t0 + i] : 0.f;
            }
            __syncthreads();
            for (int r = 0; r < ATT_ROWS_PER_WARP; r++) {
                int s = row0 + warp * ATT_ROWS_PER_WARP + r;
                if (s >= len) continue;
                for (int j = 0; j < ATT_TILE && t0 + j < len; j++) {
                    if (t0 + j < s) continue;
                    float p = expf(att_dot(kr[r], qt + j * D, D) * scale - tileLse[j]);
                    float ds = p * (att_dot(vr[r], dt + j * D, D) - tileDelta[j]) * scale;
                    for (int i = 0; i < ATT_LANE_D; i++) {
                        int d = lane + 32 * i;
                        if (d < D) {
                            dvr[r][i] += p * dt[j * D + d];
                            dkr[r][i] += ds * qt[j * D + d];
                        }
                    }
                }
            }
        }
    }
    for (int r = 0; r < ATT_ROWS_PER_WARP; r++) {
        int s = row0 + warp * ATT_ROWS_PER_WARP + r;
        if (s >= len) continue;
        for (int i = 0; i < ATT_LANE_D; i++) {
            int d = lane + 32 * i;
            if (d < D) {
                dk[(long) s * kvStride + kvh * D + d] = dkr[r][i];
                dv[(long) s * kvStride + kvh * D + d] = dvr[r][i];
            }
        }
    }
}
