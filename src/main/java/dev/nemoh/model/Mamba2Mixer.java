package dev.nemoh.model;

import dev.nemoh.config.NemotronHConfig;
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
    public final Linear inProj;
    public final Linear outProj;
    public final CausalConv1d conv;
    final SsdScan scan;
    public final float[] dtBias;
    /** A = -exp(A_log), per head */
    public final float[] a;
    public final float[] d;
    public final RmsNorm norm;

    final int heads, headDim, stateSize, groups, inner, convDim, kernel;
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
        this.heads = c.mambaNumHeads;
        this.headDim = c.mambaHeadDim;
        this.stateSize = c.ssmStateSize;
        this.groups = c.nGroups;
        this.inner = c.mambaIntermediateSize();
        this.convDim = c.convDim();
        this.kernel = c.convKernel;
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
        float[] xBC = conv.forward(proj, len, width, inner, convState);
        float[] ssm = state != null ? state.ssm : new float[heads * headDim * stateSize];
        float[] y = new float[len * inner];
        boolean recurrent = len == 1 && state != null;
        float[] dt = timeSteps(c, dtBias, proj, len, !recurrent || clamp == TimeStepClamp.EVERYWHERE);
        if (recurrent) {
            recurrentStep(xBC, dt, ssm, y);
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

    /** y ← y · SiLU(z), the gate applied before the grouped norm (norm_before_gate = False). */
    public static void gate(float[] y, float[] proj, int len, int inner, int width) {
        for (int t = 0; t < len; t++) {
            for (int i = 0; i < inner; i++) y[t * inner + i] *= Vec.silu(proj[t * width + i]);
        }
    }
}
