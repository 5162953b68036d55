// A decoded token attends with a fixed number of blocks per (sequence, KV head), `splits`, whatever the context
// length: each block takes a contiguous share of the keys, so one launch shape serves every step. Inside a block a
// "lane group" of G lanes (a power of two, G · 8 ≥ headDim) reads one key row with one 16-byte load per lane and
// scores it for every query head of the GQA group at once; the lane groups walk their keys independently (online
// softmax, ATTN_KEYS keys in flight each), then merge through shared memory into one partial (max, sum, Σ p·v) per query
// head and split. grid (kvHeads, splits, batch); dynamic shared memory lanes/G · group · (headDim + 2) floats.
#define ATTN_MAX_GROUP 8
#define ATTN_KEYS 4

__device__ __forceinline__ void unpack8(uint4 q, float* f) {
    f[0] = bf(q.x & 0xffff); f[1] = bf(q.x >> 16); f[2] = bf(q.y & 0xffff); f[3] = bf(q.y >> 16);
    f[4] = bf(q.z & 0xffff); f[5] = bf(q.z >> 16); f[6] = bf(q.w & 0xffff); f[7] = bf(q.w >> 16);
}

template <int GROUP>
__device__ __forceinline__ void attend_key(const float (&q)[GROUP][8], uint4 kq, uint4 vq, bool valid, int G, int group,
                                           float* m, float* l, float (&acc)[GROUP][8]) {
    float kf[8], vf[8], dot[GROUP];
    unpack8(kq, kf);
    unpack8(vq, vf);
#pragma unroll
    for (int j = 0; j < GROUP; j++) {
        float d = 0.f;
#pragma unroll
        for (int i = 0; i < 8; i++) d += q[j][i] * kf[i];
        dot[j] = d;
    }
    for (int o = G >> 1; o > 0; o >>= 1) {
#pragma unroll
        for (int j = 0; j < GROUP; j++) dot[j] += __shfl_xor_sync(0xffffffffu, dot[j], o);
    }
    if (!valid) return;
#pragma unroll
    for (int j = 0; j < GROUP; j++) {
        if (j < group) {
            float mNew = fmaxf(m[j], dot[j]);
            float corr = __expf(m[j] - mNew), p = __expf(dot[j] - mNew);
            l[j] = l[j] * corr + p;
#pragma unroll
            for (int i = 0; i < 8; i++) acc[j][i] = acc[j][i] * corr + p * vf[i];
            m[j] = mNew;
        }
    }
}

template <int GROUP>
__device__ __forceinline__ void attn_decode(const float* qkv, int qkvStride, const u64* keys, const u64* values,
                                            const int* lengths, float* partial, int heads, int kvHeads, int headDim,
                                            int G, int splits, float scale) {
    extern __shared__ float merge[];
    // a GQA group of more than GROUP query heads is served in parts of GROUP by consecutive blocks along x
    int group = heads / kvHeads, parts = (group + GROUP - 1) / GROUP;
    int kvh = blockIdx.x / parts, first = blockIdx.x % parts * GROUP, split = blockIdx.y, b = blockIdx.z;
    int count = min(GROUP, group - first);
    int lg = threadIdx.x / G, sub = threadIdx.x % G, groups = blockDim.x / G, perWarp = 32 / G, warp = threadIdx.x >> 5;
    int keysN = lengths[b] + 1;
    int span = (keysN + splits - 1) / splits;
    int s0 = split * span, s1 = min(keysN, s0 + span);
    int d0 = sub * 8;
    bool active = d0 < headDim;
    float q[GROUP][8], acc[GROUP][8], m[GROUP], l[GROUP];
#pragma unroll
    for (int j = 0; j < GROUP; j++) {
        const float* qh = qkv + (long) b * qkvStride + (kvh * group + first + j) * headDim + d0;
#pragma unroll
        for (int i = 0; i < 8; i++) {
            q[j][i] = j < count && active ? qh[i] * scale : 0.f;
            acc[j][i] = 0.f;
        }
        m[j] = NEG_INF;
        l[j] = 0.f;
    }
    int kvWidth = kvHeads * headDim;
    const bf16* K = (const bf16*) keys[b] + kvh * headDim + d0;
    const bf16* V = (const bf16*) values[b] + kvh * headDim + d0;
    uint4 zero = make_uint4(0, 0, 0, 0);
    // every lane of a warp runs the same iterations (the shuffles need them all); a key past s1 only pads. Each lane
    // group has ATTN_KEYS keys' loads in flight at once: decode attention is bound by how many bytes wait on memory.
    for (int base = s0 + warp * perWarp; base < s1; base += ATTN_KEYS * groups) {
        int key0 = base + lg % perWarp;
        uint4 k[ATTN_KEYS], x[ATTN_KEYS];
#pragma unroll
        for (int u = 0; u < ATTN_KEYS; u++) {
            int s = key0 + u * groups;
            bool v = s < s1 && active;
            k[u] = v ? *(const uint4*) (K + (long) s * kvWidth) : zero;
            x[u] = v ? *(const uint4*) (V + (long) s * kvWidth) : zero;
        }
#pragma unroll
        for (int u = 0; u < ATTN_KEYS; u++) attend_key<GROUP>(q, k[u], x[u], key0 + u * groups < s1, G, count, m, l, acc);
    }
    // merge the lane groups: merge[lg][j][0] = max, [1] = sum, [2 + d] = Σ p·v
    int row = headDim + 2;
#pragma unroll
    for (int j = 0; j < GROUP; j++) {
        if (j < count) {
            float* at = merge + ((long) lg * count + j) * row;
            if (sub == 0) { at[0] = m[j]; at[1] = l[j]; }
            if (active) {
#pragma unroll
                for (int i = 0; i < 8; i++) at[2 + d0 + i] = acc[j][i];
            }
        }
    }
    __syncthreads();
    for (int e = threadIdx.x; e < count * headDim; e += blockDim.x) {
        int j = e / headDim, d = e % headDim;
        float mx = NEG_INF;
        for (int g = 0; g < groups; g++) mx = fmaxf(mx, merge[((long) g * count + j) * row]);
        float sum = 0.f, a = 0.f;
        if (mx != NEG_INF) {
            for (int g = 0; g < groups; g++) {
                const float* at = merge + ((long) g * count + j) * row;
                float w = __expf(at[0] - mx);
                sum += at[1] * w;
                a += at[2 + d] * w;
            }
        }
        float* out = partial + (((long) b * heads + kvh * group + first + j) * splits + split) * row;
        if (d == 0) { out[0] = mx; out[1] = sum; }
        out[2 + d] = a;
    }
}

#define ATTN_KERNEL(GR) \
    extern "C" __global__ void __launch_bounds__(128) attn_decode_partial_##GR(const float* qkv, int qkvStride, \
            const u64* keys, const u64* values, const int* lengths, float* partial, int heads, int kvHeads, \
            int headDim, int G, int splits, float scale) { begin_kernel(); \
        attn_decode<GR>(qkv, qkvStride, keys, values, lengths, partial, heads, kvHeads, headDim, G, splits, scale); \
    }
ATTN_KERNEL(1)
ATTN_KERNEL(2)
ATTN_KERNEL(4)
ATTN_KERNEL(5)
ATTN_KERNEL(8)

// Combines the splits of each (sequence, query head); a split with no keys has max −∞ and weighs 0.
// grid (heads, batch), block ≥ headDim.
extern "C" __global__ void attn_decode_combine(const float* partial, float* out, int heads, int headDim, int splits) {
    begin_kernel();
    int h = blockIdx.x, b = blockIdx.y, d = threadIdx.x;
    if (d >= headDim) return;
    const float* p = partial + ((long) b * heads + h) * splits * (headDim + 2);
    float m = NEG_INF;
#pragma unroll 8
    for (int i = 0; i < splits; i++) m = fmaxf(m, p[i * (headDim + 2)]);
    float l = 0.f, acc = 0.f;
#pragma unroll 8
    for (int i = 0; i < splits; i++) {
        const float* part = p + i * (headDim + 2);
        float w = __expf(part[0] - m);
        l += part[1] * w;
        acc += part[2 + d] * w;
    }
    out[((long) b * heads + h) * headDim + d] = acc / l;
}
