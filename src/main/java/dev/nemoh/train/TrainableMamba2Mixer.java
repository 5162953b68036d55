package dev.nemoh.train;

import dev.nemoh.config.NemotronHConfig;
import dev.nemoh.kernels.Vec;
import dev.nemoh.model.CausalConv1d;
import dev.nemoh.model.Mamba2Mixer;
import dev.nemoh.model.RmsNorm;
import dev.nemoh.model.SsdScan;

/**
 * Training form of {@link Mamba2Mixer}, built on the same conv, time-step, scan, gate and norm code, from a zero
 * state with the time step clamped as in transformers' chunked scan (where it is clamped, its gradient is zero).
 */
final class TrainableMamba2Mixer implements TrainableMixer {
    final NemotronHConfig c;
    final Projection inProj, outProj;
    final Parameter convWeight, convBias, dtBias, aLog, d, normWeight;
    private final CausalConv1d conv;
    private final SsdScan scan;
    private final RmsNorm norm;
    private final int inner, convDim, heads, width;

    private float[] proj, xBC, dt, a, ungated, gated, chunkStarts;

    TrainableMamba2Mixer(NemotronHConfig c, Projection inProj, Projection outProj, Parameter convWeight, Parameter convBias,
               Parameter dtBias, Parameter aLog, Parameter d, Parameter normWeight) {
        this.c = c;
        this.inProj = inProj;
        this.outProj = outProj;
        this.convWeight = convWeight;
        this.convBias = convBias;
        this.dtBias = dtBias;
        this.aLog = aLog;
        this.d = d;
        this.normWeight = normWeight;
        this.conv = new CausalConv1d(convWeight.value, convBias.value, c.convKernel);
        this.scan = new SsdScan(c);
        this.norm = new RmsNorm(normWeight.value, c.layerNormEpsilon, c.nGroups);
        this.inner = c.mambaIntermediateSize();
        this.convDim = c.convDim();
        this.heads = c.mambaNumHeads;
        this.width = c.inProjSize();
    }

    @Override
    public float[] forward(float[] x, int len) {
        proj = inProj.forward(x, len);
        xBC = conv.forward(proj, len, width, inner, new float[convDim * c.convKernel]);
        dt = Mamba2Mixer.timeSteps(c, dtBias.value, proj, len, true);
        a = new float[heads];
        for (int h = 0; h < heads; h++) a[h] = (float) -Math.exp(aLog.value[h]);
        ungated = new float[len * inner];
        chunkStarts = new float[scan.chunks(len) * scan.stateSize()];
        scan.forward(xBC, dt, a, d.value, len, new float[scan.stateSize()], ungated, chunkStarts);
        gated = ungated.clone();
        Mamba2Mixer.gate(gated, proj, len, inner, width);
        return outProj.forward(norm.forward(gated, len), len);
    }

    @Override
    public float[] backward(float[] dOut, int len) {
        float[] dNormed = outProj.backward(dOut, len);
        float[] dGated = new float[len * inner];
        norm.backward(dNormed, gated, len, dGated, normWeight.grad);
        float[] dProj = new float[len * width];
        float[] dY = new float[len * inner];
        for (int t = 0; t < len; t++) {
            for (int i = 0; i < inner; i++) {
                float z = proj[t * width + i];
                float g = dGated[t * inner + i];
                dY[t * inner + i] = g * Vec.silu(z);
                dProj[t * width + i] = g * ungated[t * inner + i] * Vec.siluGrad(z);
            }
        }
        float[] dXBC = new float[len * convDim];
        float[] dDt = new float[len * heads];
        float[] dA = new float[heads];
        scan.backward(dY, xBC, dt, a, d.value, len, chunkStarts, dXBC, dDt, dA, d.grad);
        for (int h = 0; h < heads; h++) aLog.grad[h] += dA[h] * a[h];
        timeStepBackward(dDt, dProj, len);
        conv.backward(dXBC, proj, len, width, inner, dProj, convWeight.grad, convBias.grad);
        return inProj.backward(dProj, len);
    }

    /** Through the clamp (zero gradient where it bit, as torch.clamp) and softplus (torch's: linear above 20). */
    private void timeStepBackward(float[] dDt, float[] dProj, int len) {
        float lo = (float) Math.max(c.timeStepMin, c.timeStepLimitLow);
        float hi = (float) c.timeStepLimitHigh;
        int dtOff = inner + convDim;
        for (int t = 0; t < len; t++) {
            for (int h = 0; h < heads; h++) {
                float raw = proj[t * width + dtOff + h] + dtBias.value[h];
                float v = Vec.softplus(raw);
                if (v < lo || v > hi) continue;
                float g = dDt[t * heads + h] * (raw > 20f ? 1f : 1f / (1f + (float) Math.exp(-raw)));
                dProj[t * width + dtOff + h] = g;
                dtBias.grad[h] += g;
            }
        }
    }
}
