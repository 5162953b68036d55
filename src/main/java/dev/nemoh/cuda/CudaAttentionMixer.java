package dev.nemoh.cuda;

import dev.nemoh.config.NemotronHConfig;
import dev.nemoh.model.AttentionMixer;

/**
 * Causal grouped-query attention on the GPU, the function of {@link AttentionMixer} (no RoPE, 1/√headDim scaling).
 * q, k and v come from one stacked projection; k and v are appended to the sequence's bf16 cache. A decoded token
 * attends with a split-key kernel (each block a slice of the cache, then a combine); a prompt attends through cuBLAS
 * (scores = q·kᵀ per head, a causal softmax, then scores·v), a block of queries at a time so the score matrix stays
 * bounded at long contexts.
 */
final class CudaAttentionMixer implements CudaMixer {
    /** Keys per block of the decode kernel: enough blocks to fill the GPU at long contexts, few at short ones. */
    private static final int SPLIT = 256;
    /** Score-matrix budget of a prompt: queries per block × keys. */
    private static final long SCORES = 1L << 26;

    private final CudaLinear qkv, oProj;
    private final int heads, kvHeads, headDim, qWidth, kvWidth;
    private final float scaling;

    CudaAttentionMixer(Cuda cuda, NemotronHConfig c, AttentionMixer cpu) {
        int group = c.numAttentionHeads / c.numKeyValueHeads;
        if (group > 32) throw new CudaException("more than 32 query heads per KV head are not supported on cuda");
        if (c.headDim > 256) throw new CudaException("head_dim " + c.headDim + " is over the 256 the cuda attention supports");
        qkv = CudaLinear.upload(cuda, cpu.qProj, cpu.kProj, cpu.vProj);
        oProj = CudaLinear.upload(cuda, cpu.oProj);
        heads = c.numAttentionHeads;
        kvHeads = c.numKeyValueHeads;
        headDim = c.headDim;
        qWidth = heads * headDim;
        kvWidth = kvHeads * headDim;
        scaling = (float) (1.0 / Math.sqrt(headDim));
    }

    @Override
    public void forward(CudaDevice d, CudaStep step, int layer, long x, long residual) {
        int rows = step.rows(), len = step.len(), stride = qkv.out;
        long qkvOut = d.workspace.get("attn.qkv", 4L * rows * stride);
        qkv.forward(d, x, rows, qkvOut, false, false);
        long keys = step.table(layer, 0), values = step.table(layer, 1);
        d.kernels.launch("kv_append", len, step.sequences(), 1, 256, 0, qkvOut, stride, qWidth, qWidth + kvWidth, keys,
                values, step.lengths(), len, kvWidth);
        long out = d.workspace.get("attn.out", 4L * rows * qWidth);
        if (len == 1) {
            decode(d, step, qkvOut, stride, keys, values, out);
        } else {
            prefill(d, step, layer, qkvOut, stride, out);
        }
        oProj.forward(d, out, rows, residual, true, false);
    }

    private void decode(CudaDevice d, CudaStep step, long qkvOut, int stride, long keys, long values, long out) {
        int splits = (step.maxLength() + 1 + SPLIT - 1) / SPLIT;
        long partial = d.workspace.get("attn.partial", 4L * step.sequences() * heads * splits * (headDim + 2));
        d.kernels.launch("attn_decode_partial", kvHeads, splits, step.sequences(), 32 * (heads / kvHeads), 0, qkvOut,
                stride, keys, values, step.lengths(), partial, heads, kvHeads, headDim, SPLIT, splits, scaling);
        d.kernels.launch("attn_decode_combine", heads, step.sequences(), 1, (headDim + 31) / 32 * 32, 0, partial,
                step.lengths(), out, heads, headDim, SPLIT, splits);
    }

    private void prefill(CudaDevice d, CudaStep step, int layer, long qkvOut, int stride, long out) {
        CudaState state = step.states()[0];
        int len = step.len(), past = step.maxLength(), total = past + len;
        // the cache holds bf16; cuBLAS reads float32 copies of the keys and values this prompt can see
        long kf = d.workspace.get("attn.k.f32", 4L * total * kvWidth);
        long vf = d.workspace.get("attn.v.f32", 4L * total * kvWidth);
        long n = (long) total * kvWidth;
        d.kernels.launch1d("to_f32", CudaKernels.gridFor(n, 256), 256, state.buffers[layer][0], kf, n);
        d.kernels.launch1d("to_f32", CudaKernels.gridFor(n, 256), 256, state.buffers[layer][1], vf, n);
        int block = (int) Math.max(1, Math.min(len, SCORES / total));
        long scores = d.workspace.get("attn.scores", 4L * block * total);
        int group = heads / kvHeads;
        for (int q0 = 0; q0 < len; q0 += block) {
            int qb = Math.min(block, len - q0);
            int keysN = past + q0 + qb;
            for (int h = 0; h < heads; h++) {
                int g = h / group;
                // column-major: scores[keysN, qb] = K_gᵀ · Q_h, i.e. row-major [qb, keysN]
                d.blas.gemmF32(true, false, keysN, qb, headDim, scaling, kf + 4L * g * headDim, kvWidth,
                        qkvOut + 4L * ((long) q0 * stride + (long) h * headDim), stride, 0f, scores, keysN);
                d.kernels.launch("causal_softmax", qb, 1, 1, 256, 0, scores, keysN, past + q0);
                d.blas.gemmF32(false, false, headDim, qb, keysN, 1f, vf + 4L * g * headDim, kvWidth, scores, keysN, 0f,
                        out + 4L * ((long) q0 * qWidth + (long) h * headDim), qWidth);
            }
        }
    }

    @Override
    public long decodeWeightBytes() {
        return qkv.bytes() + oProj.bytes();
    }

    @Override
    public void free(Cuda cuda) {
        qkv.free(cuda);
        oProj.free(cuda);
    }
}
