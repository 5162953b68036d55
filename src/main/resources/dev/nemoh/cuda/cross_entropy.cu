// Cross-entropy over the vocabulary for rows of logits, with its gradient written over the logits in place:
// loss[r] = logsumexp(z[r]) − z[r, target] and z[r] ← scale · (softmax(z[r]) − onehot(target)). grid (rows).
extern "C" __global__ void cross_entropy(float* z, const int* targets, int vocab, float scale, float* loss) {
    begin_kernel();
    float* row = z + (long) blockIdx.x * vocab;
    int target = targets[blockIdx.x];
    float mx = NEG_INF;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) mx = fmaxf(mx, row[i]);
    mx = block_max(mx);
    float sum = 0.f;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) sum += expf(row[i] - mx);
    float logSum = mx + logf(block_sum(sum));
    float zt = row[target];
    __syncthreads();
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) row[i] = scale * expf(row[i] - logSum);
    __syncthreads();
    if (threadIdx.x == 0) {
        row[target] -= scale;
        loss[blockIdx.x] = logSum - zt;
    }
}
