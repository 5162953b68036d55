// Deterministic reductions for training: every sum is taken in a fixed order (no float atomics), so that a run and
// its resumption from a checkpoint compute the same bits.

// out[c] (+)= Σ_r x[r · stride + c] over rows [r0, r0 + rowsPerBlock) of each block row blockIdx.y; with one block
// row this is the whole column sum, with several it leaves partial sums [gridDim.y, cols] for a second pass.
// grid (ceil(cols / blockDim), partials).
extern "C" __global__ void column_sums(const float* x, long rows, int cols, long stride, int rowsPerBlock, float* out,
                                       int accumulate) {
    begin_kernel();
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= cols) return;
    long r0 = (long) blockIdx.y * rowsPerBlock, r1 = min(rows, r0 + rowsPerBlock);
    float s = 0.f;
    for (long r = r0; r < r1; r++) s += x[r * stride + c];
    long at = (long) blockIdx.y * cols + c;
    out[at] = accumulate ? out[at] + s : s;
}

// partial[block] = Σ x[i]² over the block's share of a grid-stride loop (summed on the host in double).
extern "C" __global__ void sum_squares(const float* x, long n, float* partial) {
    begin_kernel();
    float s = 0.f;
    for (long i = blockIdx.x * (long) blockDim.x + threadIdx.x; i < n; i += (long) gridDim.x * blockDim.x) s += x[i] * x[i];
    s = block_sum(s);
    if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

// y (+)= alpha · x, elementwise.
extern "C" __global__ void axpy(float alpha, const float* x, float* y, long n, int accumulate) {
    begin_kernel();
    for (long i = blockIdx.x * (long) blockDim.x + threadIdx.x; i < n; i += (long) gridDim.x * blockDim.x) {
        y[i] = accumulate ? y[i] + alpha * x[i] : alpha * x[i];
    }
}
