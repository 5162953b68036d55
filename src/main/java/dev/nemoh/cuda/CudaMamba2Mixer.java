package dev.nemoh.cuda;

import dev.nemoh.config.NemotronHConfig;
import dev.nemoh.model.Mamba2Mixer;
import dev.nemoh.model.TimeStepClamp;

/**
 * The Mamba-2 mixer on the GPU, the same function as {@link Mamba2Mixer}: in_proj, causal conv1d + SiLU, the
 * selective scan (the SSD chunked scan for a prompt, the recurrent step for a decoded token), the D skip, the
 * SiLU(z) gate with the grouped RMSNorm, and out_proj added into the residual.
 */
final class CudaMamba2Mixer implements CudaMixer {
    private final CudaLinear inProj, outProj;
    /** float32 device buffers */
    private final long convWeight, convBias, dtBias, a, d, normWeight;
    private final int heads, headDim, n, groups, inner, convDim, kernel, chunk;
    private final float eps, clampLo, clampHi;
    private final boolean clampInDecode;

    CudaMamba2Mixer(Cuda cuda, NemotronHConfig c, TimeStepClamp clamp, Mamba2Mixer cpu) {
        checkSupported(c);
        inProj = CudaLinear.upload(cuda, cpu.inProj);
        outProj = CudaLinear.upload(cuda, cpu.outProj);
        convWeight = floats(cuda, cpu.conv.weight);
        convBias = floats(cuda, cpu.conv.bias);
        dtBias = floats(cuda, cpu.dtBias);
        a = floats(cuda, cpu.a);
        d = floats(cuda, cpu.d);
        normWeight = floats(cuda, cpu.norm.weight);
        heads = c.mambaNumHeads;
        headDim = c.mambaHeadDim;
        n = c.ssmStateSize;
        groups = c.nGroups;
        inner = c.mambaIntermediateSize();
        convDim = c.convDim();
        kernel = c.convKernel;
        chunk = c.chunkSize;
        eps = (float) c.layerNormEpsilon;
        clampLo = (float) Math.max(c.timeStepMin, c.timeStepLimitLow);
        clampHi = (float) c.timeStepLimitHigh;
        clampInDecode = clamp == TimeStepClamp.EVERYWHERE;
    }

    /** Refuses the Mamba sizes the cuda kernels do not take (scan chunks, heads, state width), in one line. */
    static void checkSupported(NemotronHConfig c) {
        if (c.chunkSize > 256) throw new CudaException("chunk_size " + c.chunkSize + " is over the 256 the cuda scan supports");
        if (c.mambaNumHeads > 1024) throw new CudaException("mamba_num_heads " + c.mambaNumHeads + " is over the 1024 the cuda scan supports");
        if (c.ssmStateSize % 4 != 0) throw new CudaException("ssm_state_size " + c.ssmStateSize + " is not a multiple of 4, which the cuda recurrent step needs");
    }

    static long floats(Cuda cuda, float[] values) {
        long p = cuda.alloc(GpuMemory.Part.WEIGHTS, 4L * values.length);
        cuda.upload(p, values);
        return p;
    }

    @Override
    public void forward(CudaDevice dev, CudaStep step, int layer, long x, long residual) {
        CudaKernels k = dev.kernels;
        Workspace ws = dev.workspace;
        int rows = step.rows(), len = step.len(), width = inProj.out;
        long proj = ws.get("mamba.proj", 4L * rows * width);
        inProj.forward(dev, x, rows, proj, false, false);

        long xBC = ws.get("mamba.xBC", 4L * rows * convDim);
        long convStates = step.table(layer, 0);
        if (len == 1) {
            k.conv1dStep((convDim + 127) / 128, step.sequences(), 128,
                    proj, width, inner, convWeight, convBias, convStates, xBC, convDim, kernel);
        } else {
            k.conv1d((convDim + 127) / 128, len, step.sequences(), 128,
                    proj, width, inner, convWeight, convBias, convStates, xBC, len, convDim, kernel);
            k.conv1dState((convDim + 127) / 128, step.sequences(), 128,
                    proj, width, inner, convStates, len, convDim, kernel);
        }

        long y = ws.get("mamba.y", 4L * rows * inner);
        int dtOffset = inner + convDim;
        if (len == 1) {
            float lo = clampInDecode ? clampLo : Float.NEGATIVE_INFINITY;
            float hi = clampInDecode ? clampHi : Float.POSITIVE_INFINITY;
            k.ssmStep(heads, step.sequences(), 256, xBC, proj, width, dtOffset, dtBias, a, d,
                    step.table(layer, 1), y, heads, headDim, n, groups, inner, convDim, lo, hi);
        } else {
            chunkedScan(dev, step, layer, proj, width, dtOffset, xBC, y);
        }

        long normed = ws.get("mamba.normed", 4L * rows * inner);
        int group = inner / groups;
        k.gatedRmsNorm(rows, groups, 256, 4 * group, y, proj, width, normWeight, normed, inner, group, eps);
        outProj.forward(dev, normed, rows, residual, true, false);
    }

    /** The SSD scan over one sequence's prompt (see ssd_scan.cu); its final state replaces the sequence's SSM state. */
    private void chunkedScan(CudaDevice dev, CudaStep step, int layer, long proj, int width, int dtOffset, long xBC, long y) {
        if (step.sequences() != 1) throw new IllegalStateException("a prompt is scanned one sequence at a time");
        CudaKernels k = dev.kernels;
        Workspace ws = dev.workspace;
        int len = step.len();
        int chunks = (len + chunk - 1) / chunk;
        long dt = ws.get("ssd.dt", 4L * len * heads);
        long cum = ws.get("ssd.cum", 4L * len * heads);
        long cb = ws.get("ssd.cb", 4L * chunks * groups * chunk * chunk);
        long local = ws.get("ssd.local", 4L * chunks * heads * n * headDim);
        long sIn = ws.get("ssd.in", 4L * chunks * heads * n * headDim);
        long state = step.states()[0].buffers[layer][1];
        k.ssdDt(chunks, (heads + 31) / 32 * 32, proj, width, dtOffset, dtBias, a, dt, cum, len, heads, chunk, clampLo,
                clampHi);
        k.ssdCb(chunks, groups, 256, xBC, cb, len, chunk, n, groups, inner, convDim);
        k.ssdChunkState(chunks, heads, 256, xBC, dt, cum, local, len, chunk, heads, headDim, n, groups, inner, convDim);
        k.ssdStatePass((n * headDim + 255) / 256, heads, 256, local, cum, state, sIn, len, chunk, heads, headDim, n);
        k.ssdChunkOutput(chunks, heads, 256, xBC, dt, cum, cb, sIn, d, y, len, chunk, heads, headDim, n, groups, inner,
                convDim);
    }

    @Override
    public long decodeWeightBytes() {
        return inProj.bytes() + outProj.bytes();
    }

    @Override
    public void free(Cuda cuda) {
        inProj.free(cuda);
        outProj.free(cuda);
        for (long p : new long[] {convWeight, convBias, dtBias, a, d, normWeight}) cuda.free(p);
    }
}
