package dev.nemoh.model;

import dev.nemoh.config.NemotronHConfig;
import dev.nemoh.generate.HybridCache;
import dev.nemoh.kernels.Parallel;
import dev.nemoh.kernels.Vec;

/**
 * The Mamba-2 mixer. in_proj splits each token into the gate z, the conv input xBC and one dt per head; xBC goes
 * through a causal depthwise conv1d and SiLU and splits into x (heads × headDim), B and C (groups × state); the
 * selective scan runs with {@code dt = softplus(dt + dt_bias)} and {@code A = -exp(A_log)}; a D skip is added;
 * the result is gated by SiLU(z), RMS-normalised per group and projected back by out_proj.
 */
public final class Mamba2Mixer implements Mixer {
    final NemotronHConfig c;
    final Linear inProj;
    final Linear outProj;
    /** [convDim, K] */
    final float[] convWeight;
    /** [convDim], zeros when the checkpoint has no conv bias */
    final float[] convBias;
    final float[] dtBias;
    /** A = -exp(A_log), per head */
    final float[] a;
    final float[] d;
    final RmsNorm norm;

    final int heads, headDim, stateSize, groups, inner, convDim, kernel, chunk;
    final TimeStepClamp clamp;

    public Mamba2Mixer(NemotronHConfig c, TimeStepClamp clamp, Linear inProj, Linear outProj, float[] convWeight, float[] convBias,
                       float[] dtBias, float[] aLog, float[] d, float[] normWeight) {
        this.c = c;
        this.clamp = clamp;
        this.inProj = inProj;
        this.outProj = outProj;
        this.convWeight = convWeight;
        this.convBias = convBias;
        this.dtBias = dtBias;
        this.a = new float[aLog.length];
        for (int h = 0; h < aLog.length; h++) a[h] = (float) -Math.exp(aLog[h]);
        this.d = d;
        this.heads = c.mambaNumHeads;
        this.headDim = c.mambaHeadDim;
        this.stateSize = c.ssmStateSize;
        this.groups = c.nGroups;
        this.inner = c.mambaIntermediateSize();
        this.convDim = c.convDim();
        this.kernel = c.convKernel;
        this.chunk = c.chunkSize;
        this.norm = new RmsNorm(normWeight, c.layerNormEpsilon, groups);
    }

    @Override
    public long decodeWeightBytes() {
        return inProj.weight.bytes() + outProj.weight.bytes();
    }

    @Override
    public float[] forward(float[] hidden, int len, HybridCache.Layer layerCache) {
        float[] proj = inProj.forward(hidden, len); // [len, z | xBC | dt]
        float[] y = mix(proj, len, (HybridCache.MambaState) layerCache);
        return outProj.forward(norm.forward(y, len), len);
    }

    @Override
    public float[] decode(float[] hidden, int batch, HybridCache.Layer[] caches) {
        int width = inProj.out;
        float[] proj = inProj.forward(hidden, batch);
        float[] y = new float[batch * inner];
        for (int b = 0; b < batch; b++) {
            float[] row = java.util.Arrays.copyOfRange(proj, b * width, (b + 1) * width);
            System.arraycopy(mix(row, 1, (HybridCache.MambaState) caches[b]), 0, y, b * inner, inner);
        }
        return outProj.forward(norm.forward(y, batch), batch);
    }

    /** From the in_proj output of {@code len} tokens to the gated SSM output [len, inner], advancing the state. */
    private float[] mix(float[] proj, int len, HybridCache.MambaState state) {
        int width = inProj.out;
        float[] convState = state != null ? state.conv : new float[convDim * kernel];
        float[] xBC = causalConv1d(proj, len, width, convState);
        float[] ssm = state != null ? state.ssm : new float[heads * headDim * stateSize];
        float[] y = new float[len * inner];
        boolean recurrent = len == 1 && state != null;
        float[] dt = timeSteps(proj, len, width, !recurrent || clamp == TimeStepClamp.EVERYWHERE);
        if (recurrent) {
            recurrentStep(xBC, dt, ssm, y);
        } else {
            chunkedScan(xBC, dt, len, ssm, y);
        }
        gate(y, proj, len, width);
        return y;
    }

    /**
     * Causal depthwise conv over xBC followed by SiLU. The state holds the last K inputs of each channel; positions
     * before this call read from it, and it is rolled forward to hold the last K inputs afterwards.
     */
    private float[] causalConv1d(float[] proj, int len, int width, float[] state) {
        float[] out = new float[len * convDim];
        int k = kernel;
        float[] last = new float[k];
        for (int ch = 0; ch < convDim; ch++) {
            int w0 = ch * k;
            int s0 = ch * k;
            for (int t = 0; t < len; t++) {
                float acc = convBias[ch];
                for (int j = 0; j < k; j++) {
                    int src = t - (k - 1) + j; // input position read by tap j
                    float v = src >= 0 ? proj[src * width + inner + ch] : state[s0 + k + src];
                    acc += convWeight[w0 + j] * v;
                }
                out[t * convDim + ch] = Vec.silu(acc);
            }
            // roll: keep the last K inputs, counting both the old state and this call's tokens
            for (int j = 0; j < k; j++) {
                int src = len - k + j;
                last[j] = src >= 0 ? proj[src * width + inner + ch] : state[s0 + k + src];
            }
            System.arraycopy(last, 0, state, s0, k);
        }
        return out;
    }

    /**
     * dt per token and head: softplus(dt + dt_bias). transformers 5.17 clamps it into
     * [max(time_step_min, time_step_limit[0]), time_step_limit[1]] in the chunked scan only; its single-token
     * recurrent step ({@code selective_state_update}) does not clamp at all; see {@link TimeStepClamp}.
     */
    private float[] timeSteps(float[] proj, int len, int width, boolean clamp) {
        float[] dt = new float[len * heads];
        float lo = clamp ? (float) Math.max(c.timeStepMin, c.timeStepLimitLow) : Float.NEGATIVE_INFINITY;
        float hi = clamp ? (float) c.timeStepLimitHigh : Float.POSITIVE_INFINITY;
        for (int t = 0; t < len; t++) {
            for (int h = 0; h < heads; h++) {
                float v = Vec.softplus(proj[t * width + inner + convDim + h] + dtBias[h]);
                dt[t * heads + h] = Math.min(Math.max(v, lo), hi);
            }
        }
        return dt;
    }

    /** One token: {@code S = exp(dt·A)·S + dt·x⊗B; y = S·C + D·x} per head. */
    private void recurrentStep(float[] xBC, float[] dt, float[] ssm, float[] y) {
        int headsPerGroup = heads / groups;
        Parallel.forEach(heads, (long) headDim * stateSize * 3, h -> {
            int g = h / headsPerGroup;
            int bOff = inner + g * stateSize;
            int cOff = inner + groups * stateSize + g * stateSize;
            float dth = dt[h];
            float decay = (float) Math.exp(dth * a[h]);
            for (int p = 0; p < headDim; p++) {
                float x = xBC[h * headDim + p];
                int s = (h * headDim + p) * stateSize;
                Vec.scale(decay, ssm, s, stateSize);
                Vec.axpy(dth * x, xBC, bOff, ssm, s, stateSize);
                y[h * headDim + p] = Vec.dot(ssm, s, xBC, cOff, stateSize) + d[h] * x;
            }
        });
    }

    /**
     * The SSD chunked scan (Mamba-2's state-space duality). Within a chunk, outputs come from an attention-like
     * quadratic form with decay {@code exp(cum[t] - cum[s])}; across chunks, a state [headDim, state] carries the
     * past. A shorter last chunk is exact: no padding is needed. Starts from and leaves the final state in
     * {@code ssm}.
     */
    private void chunkedScan(float[] xBC, float[] dt, int len, float[] ssm, float[] y) {
        int headsPerGroup = heads / groups;
        int n = stateSize;
        float[] cb = new float[groups * chunk * chunk];
        for (int c0 = 0; c0 < len; c0 += chunk) {
            final int start = c0;
            final int T = Math.min(chunk, len - c0);
            // C_t · B_s for every pair in the chunk, shared by the heads of a group
            Parallel.forEach(groups, (long) T * T * n, g -> {
                int bOff = inner + g * n;
                int cOff = inner + groups * n + g * n;
                for (int t = 0; t < T; t++) {
                    for (int s = 0; s <= t; s++) {
                        cb[(g * chunk + t) * chunk + s] = Vec.dot(xBC, (start + t) * convDim + cOff, xBC, (start + s) * convDim + bOff, n);
                    }
                }
            });
            Parallel.forEach(heads, (long) T * (T + 2 * n) * headDim, h -> {
                int g = h / headsPerGroup;
                int bOff = inner + g * n;
                int cOff = inner + groups * n + g * n;
                int xOff = h * headDim;
                float[] cum = new float[T];
                float acc = 0;
                for (int t = 0; t < T; t++) {
                    acc += a[h] * dt[(start + t) * heads + h];
                    cum[t] = acc;
                }
                int sBase = h * headDim * n;
                float[] row = new float[headDim];
                for (int t = 0; t < T; t++) {
                    int xt = (start + t) * convDim;
                    float decayIn = (float) Math.exp(cum[t]);
                    for (int p = 0; p < headDim; p++) {
                        row[p] = decayIn * Vec.dot(ssm, sBase + p * n, xBC, xt + cOff, n);
                    }
                    for (int s = 0; s <= t; s++) {
                        float w = (float) Math.exp(cum[t] - cum[s]) * cb[(g * chunk + t) * chunk + s] * dt[(start + s) * heads + h];
                        Vec.axpy(w, xBC, (start + s) * convDim + xOff, row, 0, headDim);
                    }
                    int yOff = (start + t) * inner + xOff;
                    for (int p = 0; p < headDim; p++) y[yOff + p] = row[p] + d[h] * xBC[xt + xOff + p];
                }
                float decayOut = (float) Math.exp(cum[T - 1]);
                for (int p = 0; p < headDim; p++) Vec.scale(decayOut, ssm, sBase + p * n, n);
                for (int s = 0; s < T; s++) {
                    int xs = (start + s) * convDim;
                    float w = (float) Math.exp(cum[T - 1] - cum[s]) * dt[(start + s) * heads + h];
                    for (int p = 0; p < headDim; p++) {
                        Vec.axpy(w * xBC[xs + xOff + p], xBC, xs + bOff, ssm, sBase + p * n, n);
                    }
                }
            });
        }
    }

    /** y ← y · SiLU(z), the gate applied before the grouped norm (norm_before_gate = False). */
    private void gate(float[] y, float[] proj, int len, int width) {
        for (int t = 0; t < len; t++) {
            for (int i = 0; i < inner; i++) y[t * inner + i] *= Vec.silu(proj[t * width + i]);
        }
    }
}
