// KV caches are bf16, token-major [position, kvHeads, headDim], one pair of buffers per sequence and layer.

// Appends k and v of `len` tokens per sequence at its current length; qkv rows are [q | k | v].
// grid (len, batch).
extern "C" __global__ void kv_append(const float* qkv, int qkvStride, int kOffset, int vOffset, const u64* keys,
                                     const u64* values, const int* lengths, int len, int kvWidth) {
    begin_kernel();
    int t = blockIdx.x, b = blockIdx.y;
    const float* row = qkv + ((long) b * len + t) * qkvStride;
    long at = (long) (lengths[b] + t) * kvWidth;
    bf16* k = (bf16*) keys[b] + at;
    bf16* v = (bf16*) values[b] + at;
    for (int i = threadIdx.x; i < kvWidth; i += blockDim.x) {
        k[i] = to_bf(row[kOffset + i]);
        v[i] = to_bf(row[vOffset + i]);
    }
}
