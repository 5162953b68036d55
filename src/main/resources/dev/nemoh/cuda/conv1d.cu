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

// --- training: one sequence from a zero state --------------------------------------------------------------------

// out[t] = SiLU(bias + Σ_j w[j] · in[t − (K − 1) + j]) with in the xBC columns of proj and zeros before the start.
// grid (ceil(convDim / blockDim), len).
extern "C" __global__ void conv1d_train(const float* proj, int projStride, int inner, const float* w, const float* bias,
                                        float* out, int len, int convDim, int K) {
    begin_kernel();
    int ch = blockIdx.x * blockDim.x + threadIdx.x, t = blockIdx.y;
    if (ch >= convDim) return;
    const float* in = proj + inner + ch;
    float acc = bias[ch];
    for (int j = 0; j < K; j++) {
        int src = t - (K - 1) + j;
        if (src >= 0) acc += w[ch * K + j] * in[(long) src * projStride];
    }
    out[(long) t * convDim + ch] = silu(acc);
}

// Gradient of conv1d_train from dOut (of the SiLU output): the pre-activation is recomputed; one thread per channel
// walks the tokens in order, so dw and dbias are sums in a fixed order. Writes dIn into the xBC columns of dProj and
// adds into dw [convDim, K] and dbias [convDim] (each may be null: frozen). grid (ceil(convDim / blockDim)).
#define MAX_CONV_K 8
extern "C" __global__ void conv1d_backward(const float* dOut, const float* proj, int projStride, int inner,
                                           const float* w, const float* bias, float* dProj, float* dw, float* dbias,
                                           int len, int convDim, int K) {
    begin_kernel();
    int ch = blockIdx.x * blockDim.x + threadIdx.x;
    if (ch >= convDim) return;
    const float* in = proj + inner + ch;
    float wk[MAX_CONV_K], gw[MAX_CONV_K], window[MAX_CONV_K], pending[MAX_CONV_K];
    for (int j = 0; j < K; j++) { wk[j] = w[ch * K + j]; gw[j] = 0.f; window[j] = 0.f; pending[j] = 0.f; }
    float gb = 0.f;
    // window[j] = in[t − (K − 1) + j]; pending[j] collects dIn[t − (K − 1) + j] until that input leaves the window
    for (int t = 0; t < len; t++) {
        for (int j = 0; j < K - 1; j++) window[j] = window[j + 1];
        window[K - 1] = in[(long) t * projStride];
        float pre = bias[ch];
        for (int j = 0; j < K; j++) pre += wk[j] * window[j];
        float g = dOut[(long) t * convDim + ch] * silu_grad(pre);
        gb += g;
        for (int j = 0; j < K; j++) {
            gw[j] += g * window[j];
            pending[j] += g * wk[j];
        }
        // the oldest input of the window is complete: every output that reads it has been seen
        int oldest = t - (K - 1);
        if (oldest >= 0) dProj[(long) oldest * projStride + inner + ch] = pending[0];
        for (int j = 0; j < K - 1; j++) pending[j] = pending[j + 1];
        pending[K - 1] = 0.f;
    }
    // the last K − 1 inputs
    for (int j = 0; j < K - 1; j++) {
        int src = len - (K - 1) + j;
        if (src >= 0) dProj[(long) src * projStride + inner + ch] = pending[j];
    }
    if (dw) for (int j = 0; j < K; j++) dw[ch * K + j] += gw[j];
    if (dbias) dbias[ch] += gb;
}
