// x[row] = the embedding table's row for token ids[row], widened to float32. grid (rows).
extern "C" __global__ void embed(const bf16* table, const int* ids, float* x, int hidden) {
    begin_kernel();
    long row = blockIdx.x;
    const bf16* src = table + (long) ids[row] * hidden;
    for (int i = threadIdx.x; i < hidden; i += blockDim.x) x[row * hidden + i] = bf(src[i]);
}

// The same from a float32 table (trained embeddings, or the float32 mode of training). grid (rows).
extern "C" __global__ void embed_f32(const float* table, const int* ids, float* x, int hidden) {
    begin_kernel();
    long row = blockIdx.x;
    const float* src = table + (long) ids[row] * hidden;
    for (int i = threadIdx.x; i < hidden; i += blockDim.x) x[row * hidden + i] = src[i];
}

// The embeddings' gradient: dTable[ids[t]] += dx[t] for t in order, one thread per column, so that repeated tokens
// add up in a fixed order. grid (ceil(hidden / blockDim)).
extern "C" __global__ void embed_backward(const float* dx, const int* ids, int len, int hidden, float* dTable) {
    begin_kernel();
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= hidden) return;
    for (int t = 0; t < len; t++) dTable[(long) ids[t] * hidden + c] += dx[(long) t * hidden + c];
}
