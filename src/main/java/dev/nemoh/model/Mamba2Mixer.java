package dev.nemoh.model;


import dev.nemoh.config.NemotronHConfig;
import dev.nemoh.kernels.Vec;

import java.util.Arrays;

/**
 * The Mamba-2 mixer. in_proj splits each token into the gate z, the conv input xBC and one dt per head; xBC goes
 * through a causal depthwise conv1d and SiLU and splits into x (heads × headDim), B and C (groups × state); the
 * selective scan runs with {@code dt = softplus(dt + dt_bias)} and {@code A = -exp(A_log)}; a D skip is added;
 * the result is gated by SiLU(z), RMS-normalised per group and projected back by out_proj.
 */
public final class Mamba2Mixer implements Mixer {
    final NemotronHConfig c;
    public final Linear inProj;
    public final Linear outProj;
    public final CausalConv1d conv;
    final SsdScan scan;
    public final float[] dtBias;
    /** A = -exp(A_log), per head */
    public final float[] a;
    public final float[] d;
    public final RmsNorm norm;

    final int inner;
    final TimeStepClamp clamp;

    public Mamba2Mixer(NemotronHConfig c, TimeStepClamp clamp, Linear inProj, Linear outProj, float[] convWeight, float[] convBias,
                       float[] dtBias, float[] aLog, float[] d, float[] normWeight) {
        this.c = c;
        this.clamp = clamp;
        this.inProj = inProj;
        this.outProj = outProj;
        this.conv = new CausalConv1d(convWeight, convBias, c.convKernel);
        this.scan = new SsdScan(c);
        this.dtBias = dtBias;
        this.a = new float[aLog.length];
        for (int h = 0; h < aLog.length; h++) a[h] = (float) -Math.exp(aLog[h]);
        this.d = d;
        this.inner = c.mambaIntermediateSize();
        this.norm = new RmsNorm(normWeight, c.layerNormEpsilon, c.nGroups);
    }

    @Override
    public long decodeWeightBytes() {
        return inProj.weight.bytes() + outProj.weight.bytes();
    }

    @Override
    public float[] forward(float[] hidden, int len, HybridCache.Layer layerCache, LoraAdapter[] adapters) {
        float[] proj = inProj.forward(hidden, len, adapters); // [len, z | xBC | dt]
        float[] y = mix(proj, len, (HybridCache.MambaState) layerCache);
        return outProj.forward(norm.forward(y, len), len, adapters);
    }

    @Override
    public java.util.List<Linear> linears() {
        return java.util.List.of(inProj, outProj);
    }

    @Override
    public float[] decode(float[] hidden, int batch, HybridCache.Layer[] caches, LoraAdapter[] adapters) {
        int width = inProj.out;
        float[] proj = inProj.forward(hidden, batch, adapters);
        float[] y = new float[batch * inner];
        for (int b = 0; b < batch; b++) {
            float[] row = java.util.Arrays.copyOfRange(proj, b * width, (b + 1) * width);
            System.arraycopy(mix(row, 1, (HybridCache.MambaState) caches[b]), 0, y, b * inner, inner);
        }
        return outProj.forward(norm.forward(y, batch), batch, adapters);
    }

    /** From the in_proj output of {@code len} tokens to the gated SSM output [len, inner], advancing the state. */
    private float[] mix(float[] proj, int len, HybridCache.MambaState state) {
        int width = inProj.out;
        float[] convState = state != null ? state.conv : new float[c.convDim() * c.convKernel];
        float[] xBC = conv.forward(proj, len, width, inner, convState);
        float[] ssm = state != null ? state.ssm : new float[scan.stateSize()];
        float[] y = new float[len * inner];
        boolean recurrent = len == 1 && state != null;
        boolean stepwise = clamp == TimeStepClamp.LLAMA_CPP;
        float[] dt = timeSteps(c, dtBias, proj, len, !stepwise && (!recurrent || clamp == TimeStepClamp.EVERYWHERE));
        if (recurrent) {
            scan.step(xBC, dt, a, d, ssm, y);
        } else if (stepwise) {
            int conv = c.convDim(), heads = c.mambaNumHeads;
            float[] yt = new float[inner];
            for (int t = 0; t < len; t++) {
                scan.step(Arrays.copyOfRange(xBC, t * conv, (t + 1) * conv), Arrays.copyOfRange(dt, t * heads, (t + 1) * heads),
                        a, d, ssm, yt);
                System.arraycopy(yt, 0, y, t * inner, inner);
            }
        } else {
            scan.forward(xBC, dt, a, d, len, ssm, y, null);
        }
        gate(y, proj, len, inner, width);
        return y;
    }

    /**
     * dt per token and head: softplus(dt + dt_bias). transformers 5.17 clamps it into
     * [max(time_step_min, time_step_limit[0]), time_step_limit[1]] in the chunked scan only; its single-token
     * recurrent step ({@code selective_state_update}) does not clamp at all; see {@link TimeStepClamp}.
     */
    public static float[] timeSteps(NemotronHConfig c, float[] dtBias, float[] proj, int len, boolean clamp) {
        int heads = c.mambaNumHeads, width = c.inProjSize(), dtOff = c.mambaIntermediateSize() + c.convDim();
        float[] dt = new float[len * heads];
        float lo = clamp ? (float) Math.max(c.timeStepMin, c.timeStepLimitLow) : Float.NEGATIVE_INFINITY;
        float hi = clamp ? (float) c.timeStepLimitHigh : Float.POSITIVE_INFINITY;
        for (int t = 0; t < len; t++) {
            for (int h = 0; h < heads; h++) {
                float v = Vec.softplus(proj[t * width + dtOff + h] + dtBias[h]);
                dt[t * heads + h] = Math.min(Math.max(v, lo), hi);
            }
        }
        return dt;
    }

    /**
     * The backward of {@link #timeSteps} with the clamp: dL/d(dt) [len, heads] into the dt columns of dProj and added
     * to dDtBias, through the clamp (zero where it bit, as torch.clamp) and softplus (torch's: linear above 20).
     */
    public static void timeStepsBackward(NemotronHConfig c, float[] dtBias, float[] proj, float[] dDt, int len,
                                         float[] dProj, float[] dDtBias) {
        int heads = c.mambaNumHeads, width = c.inProjSize(), dtOff = c.mambaIntermediateSize() + c.convDim();
        float lo = (float) Math.max(c.timeStepMin, c.timeStepLimitLow);
        float hi = (float) c.timeStepLimitHigh;
        for (int t = 0; t < len; t++) {
            for (int h = 0; h < heads; h++) {
                float raw = proj[t * width + dtOff + h] + dtBias[h];
                float v = Vec.softplus(raw);
                if (v < lo || v > hi) continue;
                float g = dDt[t * heads + h] * (raw > 20f ? 1f : 1f / (1f + (float) Math.exp(-raw)));
                dProj[t * width + dtOff + h] = g;
                dDtBias[h] += g;
            }
        }
    }

    /** y ← y · SiLU(z), the gate applied before the grouped norm (norm_before_gate = False). */
    public static void gate(float[] y, float[] proj, int len, int inner, int width) {
        for (int t = 0; t < len; t++) {
            for (int i = 0; i < inner; i++) y[t * inner + i] *= Vec.silu(proj[t * width + i]);
        }
    }

    /**
     * The backward of {@link #gate}: dy = dGated · SiLU(z) and dz = dGated · y · SiLU'(z) into the z columns of
     * dProj, y the ungated output [len, inner].
     */
    public static void gateBackward(float[] dGated, float[] y, float[] proj, int len, int inner, int width, float[] dy,
                                    float[] dProj) {
        for (int t = 0; t < len; t++) {
            for (int i = 0; i < inner; i++) {
                float z = proj[t * width + i];
                float g = dGated[t * inner + i];
                dy[t * inner + i] = g * Vec.silu(z);
                dProj[t * width + i] = g * y[t * inner + i] * Vec.siluGrad(z);
            }
        }
    }
}
