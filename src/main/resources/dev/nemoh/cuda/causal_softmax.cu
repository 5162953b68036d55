// Row-wise causal softmax of prefill scores [rows, keys] into bf16 probabilities [rows, keys] (the operand of the
// product with the bf16 values): row i is the query at absolute position first + i and sees keys 0..first + i;
// later keys get weight 0. The scores are overwritten with their exponentials. grid (rows).
extern "C" __global__ void causal_softmax(float* scores, bf16* probs, int keys, int first) {
    begin_kernel();
    float* row = scores + (long) blockIdx.x * keys;
    bf16* out = probs + (long) blockIdx.x * keys;
    int visible = min(keys, first + (int) blockIdx.x + 1);
    __shared__ float red[32];
    float m = NEG_INF;
    for (int j = threadIdx.x; j < visible; j += blockDim.x) m = fmaxf(m, row[j]);
    for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    if (lane == 0) red[warp] = m;
    __syncthreads();
    m = NEG_INF;
    for (int i = 0; i < (int) (blockDim.x >> 5); i++) m = fmaxf(m, red[i]);
    __syncthreads();
    float sum = 0.f;
    for (int j = threadIdx.x; j < visible; j += blockDim.x) { float e = expf(row[j] - m); row[j] = e; sum += e; }
    float inv = 1.f / block_sum(sum);
    for (int j = threadIdx.x; j < keys; j += blockDim.x) out[j] = to_bf(j < visible ? row[j] * inv : 0.f);
}
