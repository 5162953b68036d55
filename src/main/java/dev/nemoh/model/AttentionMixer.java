package dev.nemoh.model;

import dev.nemoh.config.KvCacheDtype;
import dev.nemoh.config.NemotronHConfig;
import dev.nemoh.kernels.NativeKernels;
import dev.nemoh.kernels.Parallel;
import dev.nemoh.kernels.Vec;

/**
 * Causal grouped-query attention exactly as transformers' NemotronHAttention computes it: q/k/v projections,
 * softmax(q·kᵀ/√headDim) over past and present keys, o_proj. No rotary embedding and no QK norm: the reference
 * code defines {@code apply_rotary_pos_emb} but never calls it, so position comes only from the Mamba layers.
 */
public final class AttentionMixer implements Mixer {
    public final Linear qProj, kProj, vProj, oProj;
    final int heads, kvHeads, headDim;
    final float scaling;

    public AttentionMixer(NemotronHConfig c, Linear qProj, Linear kProj, Linear vProj, Linear oProj) {
        this.qProj = qProj;
        this.kProj = kProj;
        this.vProj = vProj;
        this.oProj = oProj;
        this.heads = c.numAttentionHeads;
        this.kvHeads = c.numKeyValueHeads;
        this.headDim = c.headDim;
        this.scaling = (float) (1.0 / Math.sqrt(headDim));
    }

    @Override
    public long decodeWeightBytes() {
        return qProj.weight.bytes() + kProj.weight.bytes() + vProj.weight.bytes() + oProj.weight.bytes();
    }

    @Override
    public float[] forward(float[] x, int len, HybridCache.Layer layerCache) {
        float[] q = qProj.forward(x, len);
        float[] k = kProj.forward(x, len);
        float[] v = vProj.forward(x, len);
        HybridCache.KvCache kv = layerCache instanceof HybridCache.KvCache c ? c : new HybridCache.KvCache(kvHeads, headDim, KvCacheDtype.FLOAT32);
        int past = kv.length();
        kv.append(k, v, len);
        float[] out = attend(q, kv, len, past);
        return oProj.forward(out, len);
    }

    @Override
    public float[] decode(float[] x, int batch, HybridCache.Layer[] caches) {
        float[] q = qProj.forward(x, batch);
        float[] k = kProj.forward(x, batch);
        float[] v = vProj.forward(x, batch);
        int qWidth = heads * headDim, kvWidth = kvHeads * headDim;
        float[] out = new float[batch * qWidth];
        for (int b = 0; b < batch; b++) {
            HybridCache.KvCache kv = (HybridCache.KvCache) caches[b];
            int past = kv.length();
            kv.append(java.util.Arrays.copyOfRange(k, b * kvWidth, (b + 1) * kvWidth),
                    java.util.Arrays.copyOfRange(v, b * kvWidth, (b + 1) * kvWidth), 1);
            float[] row = attend(java.util.Arrays.copyOfRange(q, b * qWidth, (b + 1) * qWidth), kv, 1, past);
            System.arraycopy(row, 0, out, b * qWidth, qWidth);
        }
        return oProj.forward(out, batch);
    }

    /** Keys scored per step of the online softmax: one vectorised exp per block instead of one call per key. */
    private static final int KEY_BLOCK = 128;
    /** Keys per native call: a short call, so that no call keeps the JVM from a safepoint for long. */
    private static final int NATIVE_CHUNK = 2048;

    /**
     * Query t (absolute position past + t) sees keys 0..past+t. The query heads sharing a KV head are handled
     * together, so every cached key and value row is read once per token rather than once per query head: at long
     * contexts the KV cache, not the weights, is what a decode step reads most. Keys go by blocks through an online
     * softmax (running max and sum), so no score array of the context's length is kept. The native kernel does the
     * same with prefetching, for head dimensions that are multiples of 16 up to 256.
     */
    private float[] attend(float[] q, HybridCache.KvCache kv, int len, int past) {
        int qWidth = heads * headDim;
        int group = heads / kvHeads;
        float[] out = new float[len * qWidth];
        boolean nativeKernel = NativeKernels.attentionAvailable(headDim);
        Parallel.forEach(kvHeads * len, (long) (past + len) * headDim * 2 * group, job -> {
            int kvh = job % kvHeads;
            int t = job / kvHeads;
            int keys = past + t + 1;
            float[] max = new float[group];
            float[] sum = new float[group];
            java.util.Arrays.fill(max, Float.NEGATIVE_INFINITY);
            float[] acc = new float[group * headDim];
            int qBase = t * qWidth + kvh * group * headDim;
            if (nativeKernel) {
                attendNative(q, qBase, group, headDim, scaling, kv, kvh, keys, max, sum, acc);
            } else {
                attendBlocks(q, qBase, group, headDim, scaling, kv, kvh, keys, max, sum, acc);
            }
            for (int g = 0; g < group; g++) {
                float inv = 1f / sum[g];
                int oOff = qBase + g * headDim;
                for (int i = 0; i < headDim; i++) out[oOff + i] = acc[g * headDim + i] * inv;
            }
        });
        return out;
    }

    /** {@link #attendBlocks} by the native kernel, in calls of {@link #NATIVE_CHUNK} keys. */
    public static void attendNative(float[] q, int qBase, int group, int headDim, float scaling, HybridCache.KvCache kv,
                                    int kvh, int keys, float[] max, float[] sum, float[] acc) {
        float[] scores = new float[group * NativeKernels.ATTENTION_BLOCK];
        for (int s0 = 0; s0 < keys; s0 += NATIVE_CHUNK) {
            int n = Math.min(NATIVE_CHUNK, keys - s0);
            if (kv.dtype == KvCacheDtype.BFLOAT16) {
                NativeKernels.attend(q, qBase, group, headDim, kv.keysBf16(kvh), kv.valuesBf16(kvh), s0, n, scaling, max, sum, acc, scores);
            } else {
                NativeKernels.attend(q, qBase, group, headDim, kv.keys(kvh), kv.values(kvh), s0, n, scaling, max, sum, acc, scores);
            }
        }
    }

    /**
     * The online softmax of one KV head's query group ({@code q[qBase..]}, [group, headDim]) over its first
     * {@code keys} keys, on the Vector API: {@code max}, {@code sum} and {@code acc} as in {@link NativeKernels#attend}.
     */
    public static void attendBlocks(float[] q, int qBase, int group, int headDim, float scaling, HybridCache.KvCache kv, int kvh,
                             int keys, float[] max, float[] sum, float[] acc) {
        float[] scores = new float[group * KEY_BLOCK];
        boolean bf16 = kv.dtype == KvCacheDtype.BFLOAT16;
        // a bf16 cache is widened a block at a time into these, then read as a float32 one
        float[] kBlock = bf16 ? new float[KEY_BLOCK * headDim] : null, vBlock = bf16 ? new float[KEY_BLOCK * headDim] : null;
        for (int s0 = 0; s0 < keys; s0 += KEY_BLOCK) {
            int n = Math.min(KEY_BLOCK, keys - s0);
            float[] k = bf16 ? Vec.widenBf16(kv.keysBf16(kvh), s0 * headDim, kBlock, n * headDim) : kv.keys(kvh);
            float[] v = bf16 ? Vec.widenBf16(kv.valuesBf16(kvh), s0 * headDim, vBlock, n * headDim) : kv.values(kvh);
            int rowOff = bf16 ? 0 : s0 * headDim;
            // four keys at a time for the whole group, so that each key row is fetched once and reused from L1
            int j = 0;
            for (; j + 4 <= n; j += 4) {
                for (int g = 0; g < group; g++) {
                    Vec.dot4Unordered(q, qBase + g * headDim, k, rowOff + j * headDim, headDim, scaling, scores, g * KEY_BLOCK + j);
                }
            }
            for (; j < n; j++) {
                for (int g = 0; g < group; g++) {
                    scores[g * KEY_BLOCK + j] = Vec.dotUnordered(q, qBase + g * headDim, k, rowOff + j * headDim, headDim) * scaling;
                }
            }
            for (int g = 0; g < group; g++) {
                float blockMax = Float.NEGATIVE_INFINITY;
                for (j = 0; j < n; j++) blockMax = Math.max(blockMax, scores[g * KEY_BLOCK + j]);
                if (blockMax > max[g]) {
                    // rescale what was accumulated under the old maximum
                    float correction = (float) Math.exp(max[g] - blockMax);
                    sum[g] *= correction;
                    Vec.scale(correction, acc, g * headDim, headDim);
                    max[g] = blockMax;
                }
                sum[g] += Vec.expShifted(scores, g * KEY_BLOCK, n, max[g]);
            }
            for (int g = 0; g < group; g++) {
                Vec.axpyRows(scores, g * KEY_BLOCK, v, rowOff, n, headDim, acc, g * headDim);
            }
        }
    }
}
