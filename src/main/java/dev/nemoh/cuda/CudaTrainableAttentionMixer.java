package dev.nemoh.cuda;

import dev.nemoh.config.NemotronHConfig;

import java.util.List;

/**
 * Training form of {@link CudaAttentionMixer}: q/k/v projections, causal GQA attention, o_proj. Attention runs a block
 * of query rows at a time (attention_train.cu): cuBLAS forms the block's scores against the keys its rows see (the
 * query heads of one KV head batched over it), a kernel turns them into probabilities keeping each row's log-sum-exp,
 * and cuBLAS multiplies them by v. The backward recomputes the scores block by block and the probabilities from the
 * log-sum-exp, and adds each block's share of dk and dv in block order (no atomics): the largest buffer is one block's
 * scores, [heads, rows, keys], never [heads, len, len]. In bf16 precision the products read bf16 q, k, v, probabilities
 * and score gradients; softmax and accumulation stay float32.
 */
final class CudaTrainableAttentionMixer implements CudaTrainableMixer {
    private static final int THREADS = 256;
    /** Scores of one block of rows: at most this many floats, [heads, rows, keys] (tests lower it to run many blocks). */
    static long scoreFloats = 1L << 25;

    private final CudaProjection qProj, kProj, vProj, oProj;
    private final int heads, kvHeads, headDim, group;
    private final float scale;

    CudaTrainableAttentionMixer(NemotronHConfig c, CudaProjection qProj, CudaProjection kProj, CudaProjection vProj,
                                CudaProjection oProj) {
        this.qProj = qProj;
        this.kProj = kProj;
        this.vProj = vProj;
        this.oProj = oProj;
        this.heads = c.numAttentionHeads;
        this.kvHeads = c.numKeyValueHeads;
        this.headDim = c.headDim;
        this.group = heads / kvHeads;
        this.scale = (float) (1.0 / Math.sqrt(headDim));
    }

    /** Query rows a block: its scores against every key fit in {@link #scoreFloats}. */
    private int blockRows(int len) {
        long rows = scoreFloats / ((long) heads * len);
        return (int) Math.max(16, Math.min(len, rows / 16 * 16));
    }

    /** q, k, v as the products read them: float32 themselves, or bf16 copies. */
    private record Operands(long q, long k, long v, int bytes) {}

    private Operands operands(CudaTraining t, long q, long k, long v, int len) {
        if (!t.precision.bf16()) return new Operands(q, k, v, 4);
        long nq = (long) len * heads * headDim, nk = (long) len * kvHeads * headDim;
        return new Operands(t.operand("att.qb", q, nq), t.operand("att.kb", k, nk), t.operand("att.vb", v, nk), 2);
    }

    /** S [group heads of kv head kvh, rows, keys] = q rows [q0, q0 + rows) · kᵀ over keys [0, keys). */
    private void scores(CudaTraining t, Operands o, int kvh, int q0, int rows, int keys, long s) {
        int qw = heads * headDim, kw = kvHeads * headDim, h0 = kvh * group;
        t.rowGemm(false, true, rows, keys, headDim, 1f, o.q + (long) o.bytes * ((long) q0 * qw + h0 * headDim), qw,
                headDim, o.k + (long) o.bytes * kvh * headDim, kw, 0, o.bytes == 2, 0f,
                s + 4L * h0 * rows * keys, keys, (long) rows * keys, group);
    }

    @Override
    public void forward(CudaTraining t, String key, long x, int len, long out) {
        int qw = heads * headDim, kw = kvHeads * headDim, rows = blockRows(len);
        boolean bf16 = t.precision.bf16();
        long q = t.floats(key + ".att.q", (long) len * qw), k = t.floats(key + ".att.k", (long) len * kw);
        long v = t.floats(key + ".att.v", (long) len * kw), o = t.floats(key + ".att.o", (long) len * qw);
        long lse = t.floats(key + ".att.lse", (long) heads * len);
        qProj.forward(t, x, len, q);
        kProj.forward(t, x, len, k);
        vProj.forward(t, x, len, v);
        Operands ops = operands(t, q, k, v, len);
        long s = t.floats("att.s", (long) heads * rows * len);
        long pb = bf16 ? t.device.workspace.get("att.pb", 2L * heads * rows * len) : 0;
        for (int q0 = 0; q0 < len; q0 += rows) {
            int r = Math.min(rows, len - q0), keys = q0 + r;
            for (int kvh = 0; kvh < kvHeads; kvh++) scores(t, ops, kvh, q0, r, keys, s);
            t.k.attnSoftmax(r, heads, THREADS, s, pb, lse, r, keys, q0, len, scale);
            long p = bf16 ? pb : s;
            for (int kvh = 0; kvh < kvHeads; kvh++) {
                int h0 = kvh * group;
                // o rows [q0, q0 + r) of the group's heads = p · v
                t.rowGemm(false, false, r, headDim, keys, 1f, p + (long) ops.bytes * h0 * r * keys, keys, (long) r * keys,
                        ops.v + (long) ops.bytes * kvh * headDim, kw, 0, bf16, 0f,
                        o + 4L * ((long) q0 * qw + h0 * headDim), qw, headDim, group);
            }
        }
        oProj.forward(t, o, len, out);
    }

    @Override
    public void backward(CudaTraining t, String key, long x, long dOut, int len, long dx) {
        int qw = heads * headDim, kw = kvHeads * headDim, rows = blockRows(len);
        boolean bf16 = t.precision.bf16();
        long q = t.floats(key + ".att.q", (long) len * qw), k = t.floats(key + ".att.k", (long) len * kw);
        long v = t.floats(key + ".att.v", (long) len * kw), o = t.floats(key + ".att.o", (long) len * qw);
        long lse = t.floats(key + ".att.lse", (long) heads * len);
        long dO = t.floats("att.dO", (long) len * qw), delta = t.floats("att.delta", (long) heads * len);
        long dq = t.floats("att.dq", (long) len * qw);
        long dk = t.floats("att.dk", (long) len * kw), dv = t.floats("att.dv", (long) len * kw);
        oProj.backward(t, o, dOut, len, dO, false);
        t.k.attnBwdDelta(len, heads, 32, o, dO, qw, delta, len, headDim);
        Operands ops = operands(t, q, k, v, len);
        long dOo = bf16 ? t.operand("att.dOb", dO, (long) len * qw) : dO;
        long s = t.floats("att.s", (long) heads * rows * len), dp = t.floats("att.dp", (long) heads * rows * len);
        long pb = bf16 ? t.device.workspace.get("att.pb", 2L * heads * rows * len) : 0;
        long dsb = bf16 ? t.device.workspace.get("att.dsb", 2L * heads * rows * len) : 0;
        t.cuda.zero(dk, 4L * len * kw);
        t.cuda.zero(dv, 4L * len * kw);
        for (int q0 = 0; q0 < len; q0 += rows) {
            int r = Math.min(rows, len - q0), keys = q0 + r;
            for (int kvh = 0; kvh < kvHeads; kvh++) {
                int h0 = kvh * group;
                scores(t, ops, kvh, q0, r, keys, s);
                // dp = dout · vᵀ for the group's heads
                t.rowGemm(false, true, r, keys, headDim, 1f, dOo + (long) ops.bytes * ((long) q0 * qw + h0 * headDim), qw,
                        headDim, ops.v + (long) ops.bytes * kvh * headDim, kw, 0, bf16, 0f,
                        dp + 4L * h0 * r * keys, keys, (long) r * keys, group);
            }
            t.k.attnSoftmaxBackward(r, heads, THREADS, s, pb, dp, dsb, lse, delta, r, keys, q0, len, scale);
            long p = bf16 ? pb : s, ds = bf16 ? dsb : dp;
            for (int kvh = 0; kvh < kvHeads; kvh++) {
                int h0 = kvh * group;
                // dq rows of the block = ds · k
                t.rowGemm(false, false, r, headDim, keys, 1f, ds + (long) ops.bytes * h0 * r * keys, keys, (long) r * keys,
                        ops.k + (long) ops.bytes * kvh * headDim, kw, 0, bf16, 0f,
                        dq + 4L * ((long) q0 * qw + h0 * headDim), qw, headDim, group);
                // dk += dsᵀ · q and dv += pᵀ · dout over the group's heads, one head after another
                for (int h = h0; h < h0 + group; h++) {
                    t.rowGemm(true, false, keys, headDim, r, 1f, ds + (long) ops.bytes * h * r * keys, keys, 0,
                            ops.q + (long) ops.bytes * ((long) q0 * qw + h * headDim), qw, 0, bf16, 1f,
                            dk + 4L * kvh * headDim, kw, 0, 1);
                    t.rowGemm(true, false, keys, headDim, r, 1f, p + (long) ops.bytes * h * r * keys, keys, 0,
                            dOo + (long) ops.bytes * ((long) q0 * qw + h * headDim), qw, 0, bf16, 1f,
                            dv + 4L * kvh * headDim, kw, 0, 1);
                }
            }
        }
        // the scale of the scores is inside ds: dq and dk need no further factor
        qProj.backward(t, x, dq, len, dx, false);
        kProj.backward(t, x, dk, len, dx, true);
        vProj.backward(t, x, dv, len, dx, true);
    }

    @Override
    public List<CudaProjection> projections() {
        return List.of(qProj, kProj, vProj, oProj);
    }
}
