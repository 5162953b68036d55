// Next-token sampling on the GPU with the CPU sampler's semantics (generate/Sampler.java): repetition, frequency and
// presence penalties, then greedy (temperature 0: the argmax, lowest id on ties), or temperature → top-k → top-p →
// min-p → a draw. One block per row of logits; the draw's uniform number comes from Philox-4x32-10 keyed by the
// request's seed and counted by its position (tokens generated so far), so a row's pick does not depend on the
// other rows of the batch. Every sum is a fixed-order tree (no float atomics): a seed gives the same picks each run.

#define SAMPLE_MAX_THREADS 1024

// Float order as a signed int, -0 and +0 equal (Sampler.key).
__device__ __forceinline__ int order_key(float v) {
    int b = __float_as_int(v + 0.0f);
    return b ^ ((b >> 31) & 0x7fffffff);
}

// Sum over the block (blockDim.x a power of two) in a fixed order; every thread gets it.
__device__ double block_sum_fixed(double v, double* red) {
    red[threadIdx.x] = v;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) red[threadIdx.x] += red[threadIdx.x + s];
        __syncthreads();
    }
    double total = red[0];
    __syncthreads();
    return total;
}

// Philox-4x32-10 (Salmon et al., SC'11) of counter (position, 0) under key seed: a uniform double in [0, 1).
__device__ double philox_uniform(u64 seed, u64 position) {
    unsigned c0 = (unsigned) position, c1 = (unsigned) (position >> 32), c2 = 0, c3 = 0;
    unsigned k0 = (unsigned) seed, k1 = (unsigned) (seed >> 32);
    for (int round = 0; round < 10; round++) {
        u64 p0 = (u64) 0xD2511F53u * c0, p1 = (u64) 0xCD9E8D57u * c2;
        unsigned n0 = (unsigned) (p1 >> 32) ^ c1 ^ k0, n2 = (unsigned) (p0 >> 32) ^ c3 ^ k1;
        c1 = (unsigned) p1;
        c3 = (unsigned) p0;
        c0 = n0;
        c2 = n2;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    return ((double) (c0 >> 5) * 67108864.0 + (double) (c1 >> 6)) * (1.0 / 9007199254740992.0);
}

// A top-k survivor's weight exp((l - max) / T) in float32; 0 for the others (and where it underflows).
__device__ __forceinline__ float weight_of(float l, int kCut, float lmax, float temperature) {
    return order_key(l) >= kCut ? expf((l - lmax) / temperature) : 0.f;
}

// The largest key K <= hi whose tokens {t : key(l[t]) >= K} weigh at least target (w[t] each, or 1 each when w is
// null): the cut of top-k (by count) and top-p (by mass), found by bisection over the keys. INT_MIN (keep every
// token) when even all of them fall short, as Sampler.cutKey does when rounding keeps the total below the target.
__device__ int key_cut(const float* l, const float* w, int vocab, double target, int hi, double* red) {
    long long lo = -2147483647LL - 1, top = hi;
    while (lo < top) {
        long long mid = lo + (top - lo + 1) / 2;
        double s = 0;
        for (int t = threadIdx.x; t < vocab; t += blockDim.x) {
            if (order_key(l[t]) >= mid) s += w ? (double) w[t] : 1.0;
        }
        if (block_sum_fixed(s, red) >= target) lo = mid;
        else top = mid - 1;
    }
    return (int) lo;
}

// Picks out[row] from logits [rows, vocab] (penalised in place) for every row whose ints[4·row + 3] is 0.
// params [rows, 6]: temperature, top-p, min-p, repetition, presence, frequency penalties; ints [rows, 4]: top-k
// (0 = off), first pair and number of pairs in penalties, skip; rng [rows, 2]: seed, position; penalties: (token,
// times generated) pairs of every distinct token in the row's prompt and output; weight [rows, vocab] scratch.
// out[row] = -1 when a logit is NaN or +inf, or every logit is -inf. grid (rows), block a power of two >= 32.
extern "C" __global__ void __launch_bounds__(SAMPLE_MAX_THREADS) sample_rows(float* logits, int vocab,
        const double* params, const int* ints, const u64* rng, const int* penalties, float* weight, int* out) {
    begin_kernel();
    __shared__ double red[SAMPLE_MAX_THREADS];
    __shared__ float bestValue[SAMPLE_MAX_THREADS];
    __shared__ int bestAt[SAMPLE_MAX_THREADS];
    __shared__ int broken, chosen;
    int row = blockIdx.x;
    const int* q = ints + 4 * row;
    if (q[3]) return;
    const double* p = params + 6 * row;
    float* l = logits + (long) row * vocab;
    float* w = weight + (long) row * vocab;
    float temperature = (float) p[0], rep = (float) p[3], pres = (float) p[4], freq = (float) p[5];

    // penalties, in float32 as transformers and vLLM apply them: each distinct token once
    bool doRep = rep != 1.f, doOut = freq != 0.f || pres != 0.f;
    for (int i = threadIdx.x; i < q[2]; i += blockDim.x) {
        int t = penalties[2 * (q[1] + i)], count = penalties[2 * (q[1] + i) + 1];
        float x = l[t];
        if (doRep) x = x > 0 ? x / rep : x * rep;
        if (doOut && count > 0) {
            x -= freq * count;
            x -= pres;
        }
        l[t] = x;
    }
    if (threadIdx.x == 0) { broken = 0; chosen = -1; }
    __syncthreads();

    // argmax, lowest id on ties; NaN and +inf are errors
    float best = NEG_INF;
    int at = -1;
    for (int t = threadIdx.x; t < vocab; t += blockDim.x) {
        float x = l[t];
        if (!(x < __int_as_float(0x7f800000))) broken = 1;
        else if (x > best) { best = x; at = t; }
    }
    bestValue[threadIdx.x] = best;
    bestAt[threadIdx.x] = at;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) {
            float v = bestValue[threadIdx.x + s];
            int i = bestAt[threadIdx.x + s], j = bestAt[threadIdx.x];
            if (i >= 0 && (j < 0 || v > bestValue[threadIdx.x] || (v == bestValue[threadIdx.x] && i < j))) {
                bestValue[threadIdx.x] = v;
                bestAt[threadIdx.x] = i;
            }
        }
        __syncthreads();
    }
    int top = bestAt[0];
    if (broken || top < 0 || temperature == 0.f) {
        if (threadIdx.x == 0) out[row] = broken ? -1 : top;
        return;
    }
    float lmax = bestValue[0];
    int maxKey = order_key(lmax);

    // top-k: every token at least as likely as the k-th (ties kept); temperature: weights exp((l - max) / T) ≤ 1
    int topK = q[0];
    int kCut = topK > 0 && topK < vocab ? key_cut(l, nullptr, vocab, topK, maxKey, red) : -2147483647 - 1;
    double mass = 0;
    for (int t = threadIdx.x; t < vocab; t += blockDim.x) {
        float x = weight_of(l[t], kCut, lmax, temperature);
        w[t] = x;
        mass += x;
    }
    mass = block_sum_fixed(mass, red);
    // top-p: the most likely tokens until their mass reaches top-p (ties kept), of the top-k ones
    int pCut = p[1] < 1 ? key_cut(l, w, vocab, (p[1] - 1e-6) * mass, maxKey, red) : -2147483647 - 1;
    // min-p: weight at least min-p times the most likely token's, which is 1
    float minW = (float) p[2];

    // the draw: each thread sums the kept weights of a contiguous run of ids, a scan orders the runs, and the
    // thread whose run holds u walks it as Sampler.draw walks the whole vocabulary
    int run = (vocab + blockDim.x - 1) / blockDim.x, t0 = min(vocab, threadIdx.x * run), t1 = min(vocab, t0 + run);
    double own = 0;
    int last = -1;
    for (int t = t0; t < t1; t++) {
        if (w[t] > 0 && w[t] >= minW && order_key(l[t]) >= pCut) { own += w[t]; last = t; }
    }
    red[threadIdx.x] = own;
    __syncthreads();
    for (int s = 1; s < blockDim.x; s <<= 1) {
        double before = threadIdx.x >= s ? red[threadIdx.x - s] : 0;
        __syncthreads();
        red[threadIdx.x] += before;
        __syncthreads();
    }
    double from = threadIdx.x > 0 ? red[threadIdx.x - 1] : 0, to = red[threadIdx.x];
    double u = philox_uniform(rng[2 * row], rng[2 * row + 1]) * red[blockDim.x - 1];
    if (own > 0 && u >= from && u < to) {
        double acc = from;
        int pick = last;
        for (int t = t0; t < t1; t++) {
            if (!(w[t] > 0 && w[t] >= minW && order_key(l[t]) >= pCut)) continue;
            acc += w[t];
            if (acc > u) { pick = t; break; }
        }
        chosen = pick;
    }
    // rounding left u at the total: the last kept token, as Sampler.draw returns
    bestAt[threadIdx.x] = last;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) bestAt[threadIdx.x] = max(bestAt[threadIdx.x], bestAt[threadIdx.x + s]);
        __syncthreads();
    }
    if (threadIdx.x == 0) out[row] = chosen >= 0 ? chosen : bestAt[0];
}
