package dev.nemoh.cuda;

import dev.nemoh.config.NemotronHConfig;
import dev.nemoh.model.AttentionMixer;

/**
 * Causal grouped-query attention on the GPU, the function of {@link AttentionMixer} (no RoPE, 1/√headDim scaling).
 * q, k and v come from one stacked projection; k and v are appended to the sequence's bf16 cache. A decoded token
 * attends through {@link CudaDecodeAttention} (split-key over the cache); a prompt through cuBLAS on the bf16 cache
 * (scores = q·kᵀ per head, a causal softmax, then scores·v), a block of queries at a time so the score matrix stays
 * bounded at long contexts.
 */
final class CudaAttentionMixer implements CudaMixer {
    /** Score-matrix budget of a prompt: queries per block × keys. */
    private static final long SCORES = 1L << 25;

    private final CudaLinear qkv, oProj;
    private final int heads, kvHeads, headDim, qWidth, kvWidth;
    private final float scaling;
    private final CudaDecodeAttention decode;

    CudaAttentionMixer(Cuda cuda, NemotronHConfig c, AttentionMixer cpu) {
        if (c.headDim > 256 || c.headDim % 8 != 0) {
            throw new CudaException("head_dim " + c.headDim + " is not a multiple of 8 up to 256, as the cuda attention needs");
        }
        qkv = CudaLinear.upload(cuda, cpu.qProj(), cpu.kProj(), cpu.vProj());
        oProj = CudaLinear.upload(cuda, cpu.oProj());
        heads = c.numAttentionHeads;
        kvHeads = c.numKeyValueHeads;
        headDim = c.headDim;
        qWidth = heads * headDim;
        kvWidth = kvHeads * headDim;
        scaling = (float) (1.0 / Math.sqrt(headDim));
        decode = new CudaDecodeAttention(heads, kvHeads, headDim, cuda.multiprocessors);
    }

    @Override
    public void forward(CudaDevice d, CudaStep step, int layer, long x, long residual) {
        int rows = step.rows(), len = step.len(), stride = qkv.out;
        long qkvOut = d.workspace.get("attn.qkv", 4L * rows * stride);
        qkv.forward(d, x, rows, qkvOut, false, false);
        long keys = step.table(layer, 0), values = step.table(layer, 1);
        d.kernels.kvAppend(len, step.sequences(), 256, qkvOut, stride, qWidth, qWidth + kvWidth, keys, values,
                step.lengths(), len, kvWidth);
        long out = d.workspace.get("attn.out", 4L * rows * qWidth);
        if (len == 1) {
            decode.attend(d, step.sequences(), decode.splits(step.sequences(), step.lengthBucket()), qkvOut, stride,
                    keys, values, step.lengths(), out);
        } else {
            prefill(d, step, layer, qkvOut, stride, out);
        }
        oProj.forward(d, out, rows, residual, true, false);
    }

    /**
     * A prompt's queries against every key the sequence holds, straight from the bf16 cache (no copy sized to the
     * context): the queries and the softmax's probabilities are rounded to bf16 for the two products, which
     * accumulate in float32.
     */
    private void prefill(CudaDevice d, CudaStep step, int layer, long qkvOut, int stride, long out) {
        CudaState state = step.states()[0];
        int len = step.len(), past = step.maxLength(), total = past + len;
        long keys = state.buffers[layer][0], values = state.buffers[layer][1];
        // bf16 rows of [q | k | v], of which the products read the queries
        long qkvBf16 = d.workspace.get("attn.qkv.bf16", 2L * len * stride);
        long n = (long) len * stride;
        d.kernels.toBf16(CudaKernels.gridFor(n, 256), 256, qkvOut, qkvBf16, n);
        int block = (int) Math.max(1, Math.min(len, SCORES / total));
        long scores = d.workspace.get("attn.scores", 4L * block * total);
        long probs = d.workspace.get("attn.probs", 2L * block * total);
        int group = heads / kvHeads;
        for (int q0 = 0; q0 < len; q0 += block) {
            int qb = Math.min(block, len - q0);
            int keysN = past + q0 + qb;
            for (int h = 0; h < heads; h++) {
                int g = h / group;
                // column-major: scores[keysN, qb] = K_gᵀ · Q_h, i.e. row-major [qb, keysN]
                d.blas.gemm(true, false, keysN, qb, headDim, scaling, keys + 2L * g * headDim, true, kvWidth,
                        qkvBf16 + 2L * ((long) q0 * stride + (long) h * headDim), true, stride, 0f, scores, keysN);
                d.kernels.causalSoftmax(qb, 256, scores, probs, keysN, past + q0);
                d.blas.gemm(false, false, headDim, qb, keysN, 1f, values + 2L * g * headDim, true, kvWidth, probs, true,
                        keysN, 0f, out + 4L * ((long) q0 * qWidth + (long) h * headDim), qWidth);
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
