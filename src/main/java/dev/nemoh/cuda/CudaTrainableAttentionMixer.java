package dev.nemoh.cuda;

import dev.nemoh.config.NemotronHConfig;

import java.util.List;

/**
 * Training form of {@link CudaAttentionMixer}: q/k/v projections, causal GQA attention in the flash-attention
 * manner (flash_attention.cu: the forward keeps only each row's log-sum-exp, the backward recomputes the
 * probabilities), o_proj.
 */
final class CudaTrainableAttentionMixer implements CudaTrainableMixer {
    private static final int ROWS_PER_BLOCK = 32, TILE = 16, THREADS = 256;

    private final CudaProjection qProj, kProj, vProj, oProj;
    private final int heads, kvHeads, headDim;
    private final float scale;

    CudaTrainableAttentionMixer(NemotronHConfig c, CudaProjection qProj, CudaProjection kProj, CudaProjection vProj,
                                CudaProjection oProj) {
        if (c.headDim > 256) throw new CudaException("head_dim " + c.headDim + " is over the 256 GPU training supports");
        this.qProj = qProj;
        this.kProj = kProj;
        this.vProj = vProj;
        this.oProj = oProj;
        this.heads = c.numAttentionHeads;
        this.kvHeads = c.numKeyValueHeads;
        this.headDim = c.headDim;
        this.scale = (float) (1.0 / Math.sqrt(headDim));
    }

    @Override
    public void forward(CudaTraining t, String key, long x, int len, long out) {
        int qw = heads * headDim, kw = kvHeads * headDim;
        long q = t.floats(key + ".att.q", (long) len * qw), k = t.floats(key + ".att.k", (long) len * kw);
        long v = t.floats(key + ".att.v", (long) len * kw), o = t.floats(key + ".att.o", (long) len * qw);
        long lse = t.floats(key + ".att.lse", (long) heads * len);
        qProj.forward(t, x, len, q);
        kProj.forward(t, x, len, k);
        vProj.forward(t, x, len, v);
        t.k.attnFwd(blocks(len), heads, THREADS, shared(), q, qw, k, v, kw, o, qw, lse, len, heads, kvHeads, headDim, scale);
        oProj.forward(t, o, len, out);
    }

    @Override
    public void backward(CudaTraining t, String key, long x, long dOut, int len, long dx) {
        int qw = heads * headDim, kw = kvHeads * headDim;
        long q = t.floats(key + ".att.q", (long) len * qw), k = t.floats(key + ".att.k", (long) len * kw);
        long v = t.floats(key + ".att.v", (long) len * kw), o = t.floats(key + ".att.o", (long) len * qw);
        long lse = t.floats(key + ".att.lse", (long) heads * len);
        long dO = t.floats("att.dO", (long) len * qw), delta = t.floats("att.delta", (long) heads * len);
        long dq = t.floats("att.dq", (long) len * qw);
        long dk = t.floats("att.dk", (long) len * kw), dv = t.floats("att.dv", (long) len * kw);
        oProj.backward(t, o, dOut, len, dO, false);
        t.k.attnBwdDelta(len, heads, 32, o, dO, qw, delta, len, headDim);
        t.k.attnBwdDq(blocks(len), heads, THREADS, shared(), q, qw, k, v, kw, dO, qw, lse, delta, dq, len, heads, kvHeads,
                headDim, scale);
        t.k.attnBwdDkv(blocks(len), kvHeads, THREADS, shared(), q, qw, k, v, kw, dO, qw, lse, delta, dk, dv, len, heads,
                kvHeads, headDim, scale);
        qProj.backward(t, x, dq, len, dx, false);
        kProj.backward(t, x, dk, len, dx, true);
        vProj.backward(t, x, dv, len, dx, true);
    }

    private static int blocks(int len) {
        return (len + ROWS_PER_BLOCK - 1) / ROWS_PER_BLOCK;
    }

    /** Two tiles of keys (or queries) and values (or output gradients) in shared memory. */
    private int shared() {
        return 2 * TILE * headDim * 4;
    }

    @Override
    public List<CudaProjection> projections() {
        return List.of(qProj, kProj, vProj, oProj);
    }
}
