// A token's route: its k experts [rows, k], largest choice first, and their weights [rows, k]. The expert weights of a
// layer are stacked, [experts, out, in], so a kernel finds any expert's from its id.

// Router logits [rows, experts] = W · x + bias in float32 for every row count (bf16-rounded activations, as cuBLAS
// takes them, flip routing choices): the GEMV of one row for grid row y, so a token's sums are the same in a prompt
// and in a batched step.
extern "C" __global__ void __launch_bounds__(256) moe_router(const bf16* __restrict__ W, const float* bias,
                                                             const float* __restrict__ x, float* logits, int experts, int in) {
    gemv_prefetch(W, experts, in);
    begin_kernel();
    long r = blockIdx.y;
    gemv<1>(W, x + r * in, logits + r * experts, bias, experts, in, 1, 0, 0);
}

// MoeMixer.route on the device, one block per token and one thread per expert (blockDim a multiple of 32 covering
// the experts): sigmoid scores; choice = score + correction; with groups > 1, only the experts of the topkGroups
// groups whose two best choices sum highest stay eligible; the k best choices by rank (the number of experts that
// beat one: larger, or equal with a lower index), which all threads count at once instead of k scans; weights = the
// chosen plain scores, normalised over them when `normalize`, times `scaling`. grid (rows); dynamic shared memory
// 4 · (2 · experts + groups + k) bytes.
extern "C" __global__ void moe_route(const float* logits, const float* correction, int* chosen, float* weights,
                                     int experts, int k, int groups, int topkGroups, int normalize, float scaling) {
    begin_kernel();
    extern __shared__ float route[];
    float* score = route;
    float* choice = score + experts;
    float* groupScore = choice + experts;
    float* picked = groupScore + groups;
    long r = blockIdx.x;
    int e = threadIdx.x;
    if (e < experts) {
        float s = 1.f / (1.f + expf(-logits[r * experts + e]));
        float c = s + correction[e];
        score[e] = s;
        // a NaN is neither larger, smaller nor equal, so ranks would collide and leave slots unwritten; −∞ ranks last
        choice[e] = c == c ? c : NEG_INF;
    }
    __syncthreads();
    if (groups > 1) {
        int size = experts / groups;
        if (e < groups) {
            float best = NEG_INF, second = NEG_INF;
            for (int i = e * size; i < (e + 1) * size; i++) {
                float v = choice[i];
                if (v > best) { second = best; best = v; } else if (v > second) second = v;
            }
            groupScore[e] = best + second;
        }
        __syncthreads();
        if (e < experts) {
            int g = e / size, rank = 0;
            for (int j = 0; j < groups; j++) rank += groupScore[j] > groupScore[g] || (groupScore[j] == groupScore[g] && j < g);
            if (rank >= topkGroups) choice[e] = NEG_INF;
        }
        __syncthreads();
    }
    if (e < experts) {
        float v = choice[e];
        int rank = 0;
        for (int j = 0; j < experts; j++) rank += choice[j] > v || (choice[j] == v && j < e);
        if (rank < k) {
            chosen[r * k + rank] = e;
            picked[rank] = score[e];
        }
    }
    __syncthreads();
    if (e == 0) {
        float sum = 0.f;
        for (int i = 0; i < k; i++) sum += picked[i];
        float norm = normalize ? 1.f / (sum + 1e-20f) : 1.f;
        for (int i = 0; i < k; i++) weights[r * k + i] = picked[i] * norm * scaling;
    }
}

// One projection of the routed expert of each (token, slot) pair p = r · k + slot = blockIdx.y, the expert read from
// the route on the device, so a captured decode step serves whatever the router picks:
// y[p] = act(W[e] · x[p / xPerPair] + bias[e]) with e = chosen[p] (xPerPair k: the token's input; 1: the pair's own).
// The GEMV of one row, so a pair's sums do not depend on the batch. No prefetch: the weights to read are known only
// once the route is.
extern "C" __global__ void __launch_bounds__(256) moe_expert(const bf16* __restrict__ W, const float* bias,
        const int* chosen, const float* __restrict__ x, int xPerPair, float* y, int out, int in, int act) {
    begin_kernel();
    long p = blockIdx.y, e = chosen[p];
    gemv<1>(W + e * out * in, x + p / xPerPair * in, y + p * out, bias ? bias + e * out : bias, out, in, 1, 0, act);
}

// out[i] = x[index[i]] for rows of `width`: a prompt's tokens gathered by expert. grid (count).
extern "C" __global__ void gather_rows(const float* x, const int* index, float* out, int width) {
    begin_kernel();
    long i = blockIdx.x;
    const float* src = x + (long) index[i] * width;
    for (int c = threadIdx.x; c < width; c += blockDim.x) out[i * width + c] = src[c];
}

// The inverse: out[index[i]] = x[i] for each row i (the index holds no repeats). grid (rows of x).
extern "C" __global__ void scatter_rows(const float* x, const int* index, float* out, int width) {
    begin_kernel();
    long i = blockIdx.x;
    float* dst = out + (long) index[i] * width;
    for (int c = threadIdx.x; c < width; c += blockDim.x) dst[c] = x[i * width + c];
}

// y[r] (+)= Σ_slot weights[r, slot] · outs[hit(r, slot)] in slot order, hit(r, slot) = hits[r · k + slot], or
// r · k + slot when hits is null. A fixed order and no atomics: the same sums in every run and for a token alone or
// in a batch. grid (ceil(width / blockDim), rows).
extern "C" __global__ void moe_combine(const float* outs, const int* hits, const float* weights, float* y, int k,
                                       int width, int accumulate) {
    begin_kernel();
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    long r = blockIdx.y;
    if (c >= width) return;
    float acc = 0.f;
    for (int slot = 0; slot < k; slot++) {
        long p = r * k + slot;
        long hit = hits ? hits[p] : p;
        acc += weights[p] * outs[hit * width + c];
    }
    long at = r * width + c;
    y[at] = accumulate ? y[at] + acc : acc;
}

// --- training ---------------------------------------------------------------------------------------------------
// Pairs (token, slot) are grouped by expert, each expert's in token order (as the host dispatch lists them):
// pair p belongs to token tok[p], its weight is weights[slot[p]] (token · k + slot), and its expert's output row p of
// outs; hits[token · k + slot] = p.

// For each pair: dOuts[p] = weight · dRouted[token] (the expert's output gradient) and dWeight[token · k + slot] =
// dRouted[token] · outs[p] (the route weight's). grid (pairs).
extern "C" __global__ void moe_pair_grads(const float* outs, const float* dRouted, const int* tok, const int* slot,
                                          const float* weights, float* dOuts, float* dWeight, int width) {
    begin_kernel();
    long p = blockIdx.x;
    const float* d = dRouted + (long) tok[p] * width;
    float w = weights[slot[p]], dot = 0.f;
    for (int c = threadIdx.x; c < width; c += blockDim.x) {
        dOuts[p * width + c] = w * d[c];
        dot += d[c] * outs[p * width + c];
    }
    dot = block_sum(dot);
    if (threadIdx.x == 0) dWeight[slot[p]] = dot;
}

// y[r] = Σ_slot rows[hits[r · k + slot]] in slot order: the gradient a token's input gathers from its experts.
// grid (ceil(width / blockDim), tokens).
extern "C" __global__ void moe_gather_sum(const float* rows, const int* hits, float* y, int k, int width) {
    begin_kernel();
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    long r = blockIdx.y;
    if (c >= width) return;
    float acc = 0.f;
    for (int s = 0; s < k; s++) acc += rows[(long) hits[r * k + s] * width + c];
    y[r * width + c] = acc;
}

// The router logits' gradient from the route weights' (TopkRouter's): w_j = scaling · s_j (/ Σ s when normalize)
// with s = sigmoid(logit) of the chosen experts; the choice itself has none. dLogits [rows, experts] written, zero
// for experts not chosen. grid (rows), block 32.
extern "C" __global__ void moe_route_backward(const float* logits, const int* chosen, const float* dWeight,
                                              float* dLogits, int experts, int k, int normalize, float scaling) {
    begin_kernel();
    long r = blockIdx.x;
    for (int e = threadIdx.x; e < experts; e += blockDim.x) dLogits[r * experts + e] = 0.f;
    __syncthreads();
    if (threadIdx.x != 0) return;
    float sum = 0.f, weighted = 0.f;
    for (int j = 0; j < k; j++) {
        float s = 1.f / (1.f + expf(-logits[r * experts + chosen[r * k + j]]));
        sum += s;
        weighted += dWeight[r * k + j] * s;
    }
    float norm = sum + 1e-20f;
    for (int j = 0; j < k; j++) {
        int e = chosen[r * k + j];
        float s = 1.f / (1.f + expf(-logits[r * experts + e]));
        float dw = dWeight[r * k + j];
        float ds = normalize ? scaling * (dw / norm - weighted / (norm * norm)) : scaling * dw;
        dLogits[r * experts + e] += ds * s * (1.f - s);
    }
}
