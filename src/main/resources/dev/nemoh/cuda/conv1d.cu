// Causal depthwise conv1d + SiLU over xBC (columns [inner, inner + convDim) of proj) for `len` tokens of each of
// `batch` sequences; positions before the call come from the sequence's conv state [convDim, K] (oldest first).
// grid (ceil(convDim / blockDim), len, batch).
extern "C" __global__ void conv1d(const float* proj, int projStride, int inner, const float* w, const float* bias,
                                  const u64* states, float* out, int len, int convDim, int K) {
    begin_kernel();
    int ch = blockIdx.x * blockDim.x + threadIdx.x;
    int t = blockIdx.y, b = blockIdx.z;
    if (ch >= convDim) return;
    const float* state = (const float*) states[b] + (long) ch * K;
    const float* in = proj + (long) b * len * projStride + inner + ch;
    float acc = bias[ch];
    for (int j = 0; j < K; j++) {
        int src = t - (K - 1) + j;
        acc += w[ch * K + j] * (src >= 0 ? in[(long) src * projStride] : state[K + src]);
    }
    out[((long) b * len + t) * convDim + ch] = silu(acc);
}

// After conv1d: each channel's state keeps its last K inputs. In place: slot j reads slot len + j > j, or the input.
extern "C" __global__ void conv1d_state(const float* proj, int projStride, int inner, const u64* states, int len,
                                        int convDim, int K) {
    begin_kernel();
    int ch = blockIdx.x * blockDim.x + threadIdx.x;
    int b = blockIdx.y;
    if (ch >= convDim) return;
    float* state = (float*) states[b] + (long) ch * K;
    const float* in = proj + (long) b * len * projStride + inner + ch;
    for (int j = 0; j < K; j++) {
        int src = len - K + j;
        state[j] = src >= 0 ? in[(long) src * projStride] : state[K + src];
    }
}

// conv1d + conv1d_state for one token of each sequence (a decode step) in one pass: each thread owns one channel,
// so it can read the state, produce the output and shift the state in place. grid (ceil(convDim / blockDim), batch).
extern "C" __global__ void conv1d_step(const float* proj, int projStride, int inner, const float* w, const float* bias,
                                       const u64* states, float* out, int convDim, int K) {
    begin_kernel();
    int ch = blockIdx.x * blockDim.x + threadIdx.x;
    int b = blockIdx.y;
    if (ch >= convDim) return;
    float* state = (float*) states[b] + (long) ch * K;
    float in = proj[(long) b * projStride + inner + ch];
    float acc = bias[ch] + w[ch * K + K - 1] * in;
    for (int j = 0; j < K - 1; j++) {
        float s = state[j + 1];
        acc += w[ch * K + j] * s;
        state[j] = s;
    }
    state[K - 1] = in;
    out[(long) b * convDim + ch] = silu(acc);
}
