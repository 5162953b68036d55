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

// Gradient of conv1d_train from dOut (of the SiLU output), the pre-activation recomputed. One thread per channel
// and segment of `seg` tokens walks them in order: it writes dIn of its tokens into the xBC columns of dProj (reading
// the K − 1 outputs past its end that also see them) and its share of dw and dbias into partial [segments, convDim,
// K + 1] (w, then bias), which conv1d_param_grads sums over the segments in order. grid (ceil(convDim / blockDim),
// ceil(len / seg)).
#define MAX_CONV_K 8
extern "C" __global__ void conv1d_backward(const float* dOut, const float* proj, int projStride, int inner,
                                           const float* w, const float* bias, float* dProj, float* partial, int len,
                                           int convDim, int K, int seg) {
    begin_kernel();
    int ch = blockIdx.x * blockDim.x + threadIdx.x;
    if (ch >= convDim) return;
    int t0 = blockIdx.y * seg, t1 = min(len, t0 + seg), tEnd = min(len, t1 + K - 1);
    const float* in = proj + inner + ch;
    float wk[MAX_CONV_K], gw[MAX_CONV_K], window[MAX_CONV_K], pending[MAX_CONV_K];
    for (int j = 0; j < K; j++) {
        wk[j] = w[ch * K + j];
        gw[j] = 0.f;
        pending[j] = 0.f;
        int src = t0 - K + j; // window[j] before the first shift: in[t0 − K + j]
        window[j] = j > 0 && src >= 0 ? in[(long) src * projStride] : 0.f;
    }
    float gb = 0.f;
    // window[j] = in[t − (K − 1) + j]; pending[j] collects dIn[t − (K − 1) + j] until that input leaves the window
    for (int t = t0; t < tEnd; t++) {
        for (int j = 0; j < K - 1; j++) window[j] = window[j + 1];
        window[K - 1] = in[(long) t * projStride];
        float pre = bias[ch];
        for (int j = 0; j < K; j++) pre += wk[j] * window[j];
        float g = dOut[(long) t * convDim + ch] * silu_grad(pre);
        if (t < t1) {
            gb += g;
            for (int j = 0; j < K; j++) gw[j] += g * window[j];
        }
        for (int j = 0; j < K; j++) pending[j] += g * wk[j];
        // the oldest input of the window is complete: every output that reads it has been seen
        int oldest = t - (K - 1);
        if (oldest >= t0 && oldest < t1) dProj[(long) oldest * projStride + inner + ch] = pending[0];
        for (int j = 0; j < K - 1; j++) pending[j] = pending[j + 1];
        pending[K - 1] = 0.f;
    }
    // the sequence's last K − 1 inputs, when they are this segment's: no output past the end reads them
    for (int j = 0; j < K - 1; j++) {
        int src = tEnd - (K - 1) + j;
        if (tEnd == len && src >= t0 && src < t1) dProj[(long) src * projStride + inner + ch] = pending[j];
    }
    float* out = partial + ((long) blockIdx.y * convDim + ch) * (K + 1);
    for (int j = 0; j < K; j++) out[j] = gw[j];
    out[K] = gb;
}

// dw [convDim, K] and dbias [convDim] += the segments' partial sums, in segment order; either may be null (frozen).
// grid (ceil(convDim / blockDim)).
extern "C" __global__ void conv1d_param_grads(const float* partial, int segments, int convDim, int K, float* dw,
                                              float* dbias) {
    begin_kernel();
    int ch = blockIdx.x * blockDim.x + threadIdx.x;
    if (ch >= convDim) return;
    for (int j = 0; j <= K; j++) {
        float s = 0.f;
        for (int seg = 0; seg < segments; seg++) s += partial[((long) seg * convDim + ch) * (K + 1) + j];
        if (j < K && dw) dw[ch * K + j] += s;
        if (j == K && dbias) dbias[ch] += s;
    }
}
