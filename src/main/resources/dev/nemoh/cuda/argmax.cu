// Greedy pick per row of logits [rows, vocab]; grid (rows).
extern "C" __global__ void argmax(const float* logits, int vocab, int* out) {
    begin_kernel();
    const float* row = logits + (long) blockIdx.x * vocab;
    float best = NEG_INF;
    int at = 0;
    for (int j = threadIdx.x; j < vocab; j += blockDim.x) if (row[j] > best) { best = row[j]; at = j; }
    __shared__ float bv[1024];
    __shared__ int bi[1024];
    bv[threadIdx.x] = best;
    bi[threadIdx.x] = at;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) {
            float v = bv[threadIdx.x + s];
            int i = bi[threadIdx.x + s];
            if (v > bv[threadIdx.x] || (v == bv[threadIdx.x] && i < bi[threadIdx.x])) { bv[threadIdx.x] = v; bi[threadIdx.x] = i; }
        }
        __syncthreads();
    }
    if (threadIdx.x == 0) out[blockIdx.x] = bi[0];
}
