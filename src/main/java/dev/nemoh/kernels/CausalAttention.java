package dev.nemoh.kernels;

import java.util.Arrays;

/**
 * Causal grouped-query attention, {@code softmax(q·kᵀ·scale)·v}, forward and backward. The query heads sharing a KV
 * head go through its keys together, so every key and value row is read once per token rather than once per query
 * head; keys go by blocks through an online softmax (a running max and sum of exp(score − max) per row), so no score
 * array of the context's length is kept. The forward can leave each row's max and sum (the softmax statistics), from
 * which the backward recomputes the row's probabilities instead of keeping [heads, len, len] of them.
 *
 * <p>Shapes: q, out, dq [len, heads·headDim] and dk, dv [len, kvHeads·headDim], token-major as the projections give
 * and take them; the keys and values attended over are stored per KV head ({@link KeysValues});
 * row statistics [len, heads].
 *
 * @param reproducible the same bits in every JVM, JIT tier and machine: scores by {@link Vec#dot}, never the native
 *                     kernel (training, whose resumed runs must repeat their loss curve); otherwise the fastest kernel,
 *                     native where available, whose last bits may vary (inference)
 */
public record CausalAttention(int heads, int kvHeads, int headDim, boolean reproducible) {
    /**
     * One layer's keys and values per KV head, {@code [kvHeads][tokens · headDim]} (the arrays may be longer):
     * float32 in keys and values, or bf16 in keysBf16 and valuesBf16, the other pair null.
     */
    public record KeysValues(float[][] keys, float[][] values, short[][] keysBf16, short[][] valuesBf16) {}

    /** Keys scored per step of the Vector API's online softmax: one vectorised exp per block instead of one per key. */
    private static final int KEY_BLOCK = 128;

    /** The query heads that share one KV head. */
    public int group() {
        return heads / kvHeads;
    }

    /** 1/√headDim, the scaling of the scores. */
    public float scale() {
        return (float) (1.0 / Math.sqrt(headDim));
    }

    /**
     * Attention output for query rows {@code first..first + len} of q into the same rows of out; row first + t is at
     * position past + t and sees keys 0..past + t of kv. When rowMax and rowSum are given (a forward from position 0
     * with first 0) they receive each row's softmax statistics, [len, heads].
     */
    public void forward(float[] q, int first, int len, int past, KeysValues kv, float[] out, float[] rowMax, float[] rowSum) {
        int qWidth = heads * headDim, group = group();
        float scale = scale();
        boolean nativeKernel = !reproducible && NativeKernels.attentionAvailable(headDim);
        Parallel.forEach(kvHeads * len, (long) (past + len) * headDim * 2 * group, job -> {
            int kvh = job % kvHeads;
            int t = job / kvHeads;
            int keys = past + t + 1;
            float[] max = new float[group];
            float[] sum = new float[group];
            Arrays.fill(max, Float.NEGATIVE_INFINITY);
            float[] acc = new float[group * headDim];
            int qOff = (first + t) * qWidth + kvh * group * headDim;
            boolean bf16 = kv.keys() == null;
            if (nativeKernel) {
                float[] scores = new float[group * NativeKernels.ATTENTION_BLOCK];
                if (bf16) {
                    NativeKernels.attend(q, qOff, group, headDim, kv.keysBf16()[kvh], kv.valuesBf16()[kvh], 0, keys, scale, max, sum, acc, scores);
                } else {
                    NativeKernels.attend(q, qOff, group, headDim, kv.keys()[kvh], kv.values()[kvh], 0, keys, scale, max, sum, acc, scores);
                }
            } else if (bf16) {
                attendBlocks(q, qOff, group, headDim, scale, kv.keysBf16()[kvh], kv.valuesBf16()[kvh], keys, max, sum, acc);
            } else {
                attendBlocks(q, qOff, group, headDim, scale, kv.keys()[kvh], kv.values()[kvh], keys, max, sum, acc, reproducible);
            }
            for (int g = 0; g < group; g++) {
                float inv = 1f / sum[g];
                int oOff = qOff + g * headDim;
                for (int i = 0; i < headDim; i++) out[oOff + i] = acc[g * headDim + i] * inv;
            }
            if (rowMax != null) {
                System.arraycopy(max, 0, rowMax, t * heads + kvh * group, group);
                System.arraycopy(sum, 0, rowSum, t * heads + kvh * group, group);
            }
        });
    }

    /**
     * The online softmax of one KV head's query group ({@code q[qOff..]}, [group, dim]) over its first {@code keys}
     * float32 keys and values ([keys, dim]), on the Vector API: {@code max}, {@code sum} and {@code acc} as in
     * {@link NativeKernels#attend}. Scores by {@link Vec#dot} when reproducible, else four keys at a time in the
     * JIT's order.
     */
    public static void attendBlocks(float[] q, int qOff, int group, int dim, float scale, float[] k, float[] v, int keys,
                                    float[] max, float[] sum, float[] acc, boolean reproducible) {
        float[] scores = new float[group * KEY_BLOCK];
        for (int s0 = 0; s0 < keys; s0 += KEY_BLOCK) {
            block(q, qOff, group, dim, scale, k, v, s0 * dim, Math.min(KEY_BLOCK, keys - s0), scores, max, sum, acc, reproducible);
        }
    }

    /** {@link #attendBlocks} over bf16 keys and values, widened a block at a time. */
    public static void attendBlocks(float[] q, int qOff, int group, int dim, float scale, short[] k, short[] v, int keys,
                                    float[] max, float[] sum, float[] acc) {
        float[] scores = new float[group * KEY_BLOCK];
        float[] kBlock = new float[KEY_BLOCK * dim], vBlock = new float[KEY_BLOCK * dim];
        for (int s0 = 0; s0 < keys; s0 += KEY_BLOCK) {
            int n = Math.min(KEY_BLOCK, keys - s0);
            Vec.widenBf16(k, s0 * dim, kBlock, n * dim);
            Vec.widenBf16(v, s0 * dim, vBlock, n * dim);
            block(q, qOff, group, dim, scale, kBlock, vBlock, 0, n, scores, max, sum, acc, false);
        }
    }

    /** One block of n keys and values starting at {@code rowOff} of k and v through the online softmax. */
    private static void block(float[] q, int qOff, int group, int dim, float scale, float[] k, float[] v, int rowOff, int n,
                              float[] scores, float[] max, float[] sum, float[] acc, boolean reproducible) {
        int j = 0;
        if (reproducible) {
            for (; j < n; j++) {
                for (int g = 0; g < group; g++) {
                    scores[g * KEY_BLOCK + j] = Vec.dot(q, qOff + g * dim, k, rowOff + j * dim, dim) * scale;
                }
            }
        } else {
            // four keys at a time for the whole group, so that each key row is fetched once and reused from L1
            for (; j + 4 <= n; j += 4) {
                for (int g = 0; g < group; g++) {
                    Vec.dot4Unordered(q, qOff + g * dim, k, rowOff + j * dim, dim, scale, scores, g * KEY_BLOCK + j);
                }
            }
            for (; j < n; j++) {
                for (int g = 0; g < group; g++) {
                    scores[g * KEY_BLOCK + j] = Vec.dotUnordered(q, qOff + g * dim, k, rowOff + j * dim, dim) * scale;
                }
            }
        }
        for (int g = 0; g < group; g++) {
            float blockMax = Float.NEGATIVE_INFINITY;
            for (j = 0; j < n; j++) blockMax = Math.max(blockMax, scores[g * KEY_BLOCK + j]);
            if (blockMax > max[g]) {
                // rescale what was accumulated under the old maximum
                float correction = (float) Math.exp(max[g] - blockMax);
                sum[g] *= correction;
                Vec.scale(correction, acc, g * dim, dim);
                max[g] = blockMax;
            }
            sum[g] += Vec.expShifted(scores, g * KEY_BLOCK, n, max[g]);
        }
        for (int g = 0; g < group; g++) {
            Vec.axpyRows(scores, g * KEY_BLOCK, v, rowOff, n, dim, acc, g * dim);
        }
    }

    /**
     * dq, dk and dv (zeroed, token-major) from dOut [len, heads·headDim] for a reproducible forward from position 0
     * over the len float32 keys and values of kv, which left rowMax and rowSum: each row's probabilities are
     * recomputed from q, k and those two with the forward's scores and exp.
     */
    public void backward(float[] q, KeysValues kv, float[] dOut, float[] rowMax, float[] rowSum, int len, float[] dq,
                         float[] dk, float[] dv) {
        int qw = heads * headDim, kw = kvHeads * headDim, group = group();
        float scale = scale();
        // the query heads of one KV head write the same dk/dv rows, so work splits by KV head
        Parallel.forEach(kvHeads, (long) group * len * len * headDim * 5, kvh -> {
            float[] k = kv.keys()[kvh], v = kv.values()[kvh];
            int kvOff = kvh * headDim;
            float[] p = new float[len], dp = new float[len];
            for (int h = kvh * group; h < (kvh + 1) * group; h++) {
                for (int t = 0; t < len; t++) {
                    int o = t * qw + h * headDim;
                    for (int s = 0; s <= t; s++) p[s] = Vec.dot(q, o, k, s * headDim, headDim) * scale;
                    Vec.expShifted(p, 0, t + 1, rowMax[t * heads + h]);
                    float sum = rowSum[t * heads + h];
                    float dot = 0;
                    for (int s = 0; s <= t; s++) {
                        p[s] /= sum;
                        dp[s] = Vec.dot(dOut, o, v, s * headDim, headDim);
                        dot += p[s] * dp[s];
                        Vec.axpy(p[s], dOut, o, dv, s * kw + kvOff, headDim);
                    }
                    for (int s = 0; s <= t; s++) {
                        float dScore = p[s] * (dp[s] - dot) * scale;
                        Vec.axpy(dScore, k, s * headDim, dq, o, headDim);
                        Vec.axpy(dScore, q, o, dk, s * kw + kvOff, headDim);
                    }
                }
            }
        });
    }
}
