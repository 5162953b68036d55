package dev.nemoh.train;

import dev.nemoh.config.NemotronHConfig;
import dev.nemoh.model.CausalConv1d;
import dev.nemoh.model.Mamba2Mixer;
import dev.nemoh.model.RmsNorm;
import dev.nemoh.model.SsdScan;

/**
 * Training form of {@link Mamba2Mixer}, built on the same conv, time-step, scan, gate and norm code and their
 * backwards, from a zero state with the time step clamped as in transformers' chunked scan (where it is clamped,
 * its gradient is zero).
 */
final class TrainableMamba2Mixer implements TrainableMixer {
    final NemotronHConfig c;
    final Projection inProj, outProj;
    final Parameter convWeight, convBias, dtBias, aLog, d, normWeight;
    private final CausalConv1d conv;
    private final SsdScan scan;
    private final RmsNorm norm;
    private final int inner, width;

    private float[] proj, xBC, dt, a, ungated, gated, chunkStarts;

    /** Each op is built beside the parameters it reads, in the order the forward runs them. */
    TrainableMamba2Mixer(NemotronHConfig c, Projection inProj, Projection outProj, Parameter convWeight, Parameter convBias,
                         Parameter dtBias, Parameter aLog, Parameter d, Parameter normWeight) {
        this.c = c;
        this.inProj = inProj;
        this.convWeight = convWeight;
        this.convBias = convBias;
        this.conv = new CausalConv1d(convWeight.value, convBias.value, c.convKernel);
        this.scan = new SsdScan(c);
        this.dtBias = dtBias;
        this.aLog = aLog;
        this.d = d;
        this.normWeight = normWeight;
        this.norm = new RmsNorm(normWeight.value, c.layerNormEpsilon, c.nGroups);
        this.outProj = outProj;
        this.inner = c.mambaIntermediateSize();
        this.width = c.inProjSize();
    }

    @Override
    public float[] forward(float[] x, int len) {
        proj = inProj.forward(x, len);
        xBC = conv.forward(proj, len, width, inner, new float[c.convDim() * c.convKernel]);
        dt = Mamba2Mixer.timeSteps(c, dtBias.value, proj, len, true);
        a = new float[aLog.value.length];
        for (int h = 0; h < a.length; h++) a[h] = (float) -Math.exp(aLog.value[h]);
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
        Mamba2Mixer.gateBackward(dGated, ungated, proj, len, inner, width, dY, dProj);
        float[] dXBC = new float[len * c.convDim()];
        float[] dDt = new float[dt.length];
        float[] dA = new float[a.length];
        scan.backward(dY, xBC, dt, a, d.value, len, chunkStarts, dXBC, dDt, dA, d.grad);
        for (int h = 0; h < a.length; h++) aLog.grad[h] += dA[h] * a[h];
        Mamba2Mixer.timeStepsBackward(c, dtBias.value, proj, dDt, len, dProj, dtBias.grad);
        conv.backward(dXBC, proj, len, width, inner, dProj, convWeight.grad, convBias.grad);
        return inProj.backward(dProj, len);
    }
}
