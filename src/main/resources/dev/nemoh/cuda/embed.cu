// x[row] = the embedding table's row for token ids[row], widened to float32. grid (rows).
extern "C" __global__ void embed(const bf16* table, const int* ids, float* x, int hidden) {
    begin_kernel();
    long row = blockIdx.x;
    const bf16* src = table + (long) ids[row] * hidden;
    for (int i = threadIdx.x; i < hidden; i += blockDim.x) x[row * hidden + i] = bf(src[i]);
}
