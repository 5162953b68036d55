package dev.nemoh.cuda;

import dev.nemoh.config.MambaShape;
import dev.nemoh.config.NemotronHConfig;

import java.util.List;

/**
 * Training form of {@link CudaMamba2Mixer}: in_proj, causal conv1d + SiLU, the SSD chunked scan from a zero state,
 * the D skip, the SiLU(z)-gated grouped RMSNorm and out_proj, with the backward of each (ssd_scan_backward.cu,
 * ssd_time_step.cu). The forward keeps in_proj's output, the conv output, dt and its running sum, the state entering
 * each chunk, the scan's output, the norm's 1/rms and out_proj's input.
 */
final class CudaTrainableMamba2Mixer implements CudaTrainableMixer {
    private static final int THREADS = 256, CONV_THREADS = 128;
    /** Tokens one thread walks in order in the time-step and conv backwards (their partial sums add up after). */
    private static final int SEGMENT = 64;

    private final CudaProjection inProj, outProj;
    private final CudaParameters.Tensor convWeight, convBias, dtBias, aLog, d, normWeight;
    /** A = −exp(A_log), recomputed at every forward (A_log may train) */
    private final long a;
    private final MambaShape m;
    private final float eps, clampLo, clampHi;

    CudaTrainableMamba2Mixer(CudaTraining t, NemotronHConfig c, CudaProjection inProj, CudaProjection outProj,
                             CudaParameters.Tensor convWeight, CudaParameters.Tensor convBias,
                             CudaParameters.Tensor dtBias, CudaParameters.Tensor aLog, CudaParameters.Tensor d,
                             CudaParameters.Tensor normWeight) {
        CudaMamba2Mixer.checkSupported(c);
        if (c.convKernel > 8) throw new CudaException("conv_kernel " + c.convKernel + " is over the 8 GPU training supports");
        this.inProj = inProj;
        this.outProj = outProj;
        this.convWeight = convWeight;
        this.convBias = convBias;
        this.dtBias = dtBias;
        this.aLog = aLog;
        this.d = d;
        this.normWeight = normWeight;
        this.m = c.mamba();
        this.eps = (float) c.layerNormEpsilon;
        this.clampLo = (float) Math.max(c.timeStepMin, c.timeStepLimitLow);
        this.clampHi = (float) c.timeStepLimitHigh;
        this.a = t.cuda.alloc(GpuMemory.Part.TRAINING, 4L * m.heads());
    }

    /** The forward's activations under key, sized for len tokens. */
    private record Saved(long proj, long xBC, long dt, long cum, long cb, long sIn, long y, long rstd, long normed) {}

    private Saved saved(CudaTraining t, String key, int len) {
        int chunks = m.chunks(len), width = m.inProjWidth(), convDim = m.convDim(), heads = m.heads(), groups = m.groups();
        int chunk = m.chunk(), n = m.stateSize(), headDim = m.headDim(), inner = m.inner();
        return new Saved(t.floats(key + ".mamba.proj", (long) len * width), t.floats(key + ".mamba.xBC", (long) len * convDim),
                t.floats(key + ".mamba.dt", (long) len * heads), t.floats(key + ".mamba.cum", (long) len * heads),
                t.floats(key + ".mamba.cb", (long) chunks * groups * chunk * chunk),
                t.floats(key + ".mamba.sIn", (long) chunks * heads * n * headDim), t.floats(key + ".mamba.y", (long) len * inner),
                t.floats(key + ".mamba.rstd", (long) len * groups), t.floats(key + ".mamba.normed", (long) len * inner));
    }

    @Override
    public void forward(CudaTraining t, String key, long x, int len, long out) {
        CudaKernels k = t.k;
        Saved s = saved(t, key, len);
        int chunks = m.chunks(len), dtOffset = m.dtOffset(), width = m.inProjWidth(), convDim = m.convDim();
        int heads = m.heads(), groups = m.groups(), chunk = m.chunk(), n = m.stateSize(), headDim = m.headDim();
        int inner = m.inner(), kernel = m.convKernel();
        inProj.forward(t, x, len, s.proj);
        k.conv1dTrain((convDim + CONV_THREADS - 1) / CONV_THREADS, len, CONV_THREADS, s.proj, width, inner,
                convWeight.value(), convBias.value(), s.xBC, len, convDim, kernel);
        k.ssdAFromLog(1, 1, (heads + 31) / 32 * 32, aLog.value(), a, heads);
        k.ssdDt(chunks, (heads + 31) / 32 * 32, s.proj, width, dtOffset, dtBias.value(), a, s.dt, s.cum, len, heads, chunk,
                clampLo, clampHi);
        k.ssdCb(chunks, groups, THREADS, s.xBC, s.cb, len, chunk, n, groups, inner, convDim);
        long local = t.floats("mamba.local", (long) chunks * heads * n * headDim);
        long state = t.floats("mamba.state", (long) heads * headDim * n);
        t.cuda.zero(state, 4L * heads * headDim * n);
        k.ssdChunkState(chunks, heads, THREADS, s.xBC, s.dt, s.cum, local, len, chunk, heads, headDim, n, groups, inner,
                convDim);
        k.ssdStatePass((n * headDim + THREADS - 1) / THREADS, heads, THREADS, local, s.cum, state, s.sIn, len, chunk, heads,
                headDim, n);
        k.ssdChunkOutput(chunks, heads, THREADS, s.xBC, s.dt, s.cum, s.cb, s.sIn, d.value(), s.y, len, chunk, heads, headDim,
                n, groups, inner, convDim);
        k.gatedRmsNormTrain(len, groups, THREADS, s.y, s.proj, width, normWeight.value(), s.normed, s.rstd, inner,
                inner / groups, eps);
        outProj.forward(t, s.normed, len, out);
    }

    @Override
    public void backward(CudaTraining t, String key, long x, long dOut, int len, long dx) {
        CudaKernels k = t.k;
        Saved s = saved(t, key, len);
        int chunks = m.chunks(len), dtOffset = m.dtOffset(), width = m.inProjWidth(), convDim = m.convDim();
        int heads = m.heads(), groups = m.groups(), chunk = m.chunk(), n = m.stateSize(), headDim = m.headDim();
        int inner = m.inner(), kernel = m.convKernel(), group = inner / groups;
        long dNormed = t.floats("mamba.dNormed", (long) len * inner);
        long dY = t.floats("mamba.dY", (long) len * inner);
        long dProj = t.floats("mamba.dProj", (long) len * width);
        long dwRows = t.floats("mamba.dwRows", (long) len * inner);
        outProj.backward(t, s.normed, dOut, len, dNormed, false);
        k.gatedRmsNormBackward(len, groups, THREADS, dNormed, s.y, s.proj, width, normWeight.value(), s.rstd, dY, dProj,
                normWeight.trains() ? dwRows : 0, inner, group);
        if (normWeight.trains()) t.addColumnSums(dwRows, len, inner, normWeight.grad());

        long states = (long) chunks * heads * n * headDim;
        long dState = t.floats("mamba.dState", states), dStateOut = t.floats("mamba.dStateOut", states);
        long dm = t.floats("mamba.dm", (long) chunks * heads * chunk * chunk);
        long dcb = t.floats("mamba.dcb", (long) chunks * groups * chunk * chunk);
        long dxBC = t.floats("mamba.dxBC", (long) len * convDim);
        long ddt = t.floats("mamba.ddt", (long) len * heads);
        long dAPart = t.floats("mamba.dAPart", (long) chunks * heads), dDPart = t.floats("mamba.dDPart", (long) chunks * heads);
        k.ssdBwdStateLocal(chunks, heads, THREADS, s.xBC, dY, s.cum, dState, len, chunk, heads, headDim, n, groups, inner,
                convDim);
        k.ssdBwdStatePass((n * headDim + THREADS - 1) / THREADS, heads, THREADS, dState, s.cum, dStateOut, len, chunk, heads,
                headDim, n);
        k.ssdBwdDm(chunks, heads, THREADS, s.xBC, dY, dm, len, chunk, heads, headDim, inner, convDim);
        k.ssdBwdDx(chunks, heads, THREADS, s.xBC, dY, s.dt, s.cum, s.cb, dStateOut, d.value(), dxBC, len, chunk, heads, headDim,
                n, groups, inner, convDim);
        k.ssdBwdDcb(chunks, groups, THREADS, dm, s.dt, s.cum, dcb, len, chunk, heads, groups);
        // dC and dB apart, each over state columns of 64 (ssd_scan.cu's TILE_C)
        k.ssdBwdDbc(chunks, groups, 2 * ((n + 63) / 64), THREADS, s.xBC, dY, s.dt, s.cum, dcb, s.sIn, dStateOut, dxBC, len,
                chunk, heads, headDim, n, groups, inner, convDim);
        k.ssdBwdDt(chunks, heads, THREADS, s.xBC, dY, s.dt, s.cum, a, dm, s.cb, s.sIn, dStateOut, ddt, dAPart, dDPart, len, chunk,
                heads, headDim, n, groups, inner, convDim);
        if (aLog.trains() || d.trains()) {
            k.ssdParamGrads(1, 1, (heads + 31) / 32 * 32, dAPart, dDPart, a, chunks, heads, aLog.grad(), d.grad());
        }
        int dtBlocks = (len + SEGMENT - 1) / SEGMENT;
        long dtBiasPart = t.floats("mamba.dtBiasPart", (long) dtBlocks * heads);
        k.ssdDtBackward(dtBlocks, 1, (heads + 31) / 32 * 32, ddt, s.proj, width, dtOffset, dtBias.value(), dProj, dtBiasPart,
                len, heads, clampLo, clampHi, SEGMENT);
        if (dtBias.trains()) t.addColumnSums(dtBiasPart, dtBlocks, heads, dtBias.grad());
        long convPart = t.floats("mamba.convPart", (long) dtBlocks * convDim * (kernel + 1));
        k.conv1dBackward((convDim + CONV_THREADS - 1) / CONV_THREADS, dtBlocks, CONV_THREADS, dxBC, s.proj, width, inner,
                convWeight.value(), convBias.value(), dProj, convPart, len, convDim, kernel, SEGMENT);
        if (convWeight.trains() || convBias.trains()) {
            k.conv1dParamGrads((convDim + CONV_THREADS - 1) / CONV_THREADS, CONV_THREADS, convPart, dtBlocks, convDim, kernel,
                    convWeight.grad(), convBias.grad());
        }
        inProj.backward(t, x, dProj, len, dx, false);
    }

    @Override
    public List<CudaProjection> projections() {
        return List.of(inProj, outProj);
    }
}
