package dev.nemoh.model;

import dev.nemoh.config.NemotronHConfig;
import dev.nemoh.generate.HybridCache;
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
        HybridCache.KvCache kv = layerCache instanceof HybridCache.KvCache c ? c : new HybridCache.KvCache(kvHeads, headDim);
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

    /**
     * Query t (absolute position past + t) sees keys 0..past+t. The query heads sharing a KV head are handled
     * together, so every cached key and value row is read once per token rather than once per query head: at long
     * contexts the KV cache, not the weights, is what a decode step reads most. Keys go by blocks through an online
     * softmax (running max and sum), so no score array of the context's length is kept.
     */
    private float[] attend(float[] q, HybridCache.KvCache kv, int len, int past) {
        int qWidth = heads * headDim;
        int group = heads / kvHeads;
        float[] out = new float[len * qWidth];
        Parallel.forEach(kvHeads * len, (long) (past + len) * headDim * 2 * group, job -> {
            int kvh = job % kvHeads;
            int t = job / kvHeads;
            float[] k = kv.keys(kvh);
            float[] v = kv.values(kvh);
            int keys = past + t + 1;
            float[] max = new float[group];
            float[] sum = new float[group];
            java.util.Arrays.fill(max, Float.NEGATIVE_INFINITY);
            float[] acc = new float[group * headDim];
            float[] scores = new float[group * KEY_BLOCK];
            int qBase = t * qWidth + kvh * group * headDim;
            for (int s0 = 0; s0 < keys; s0 += KEY_BLOCK) {
                int n = Math.min(KEY_BLOCK, keys - s0);
                // key by key for the whole group, so that each key row is fetched once and reused from L1
                for (int j = 0; j < n; j++) {
                    for (int g = 0; g < group; g++) {
                        scores[g * KEY_BLOCK + j] = Vec.dotUnordered(q, qBase + g * headDim, k, (s0 + j) * headDim, headDim) * scaling;
                    }
                }
                for (int g = 0; g < group; g++) {
                    float blockMax = Float.NEGATIVE_INFINITY;
                    for (int j = 0; j < n; j++) blockMax = Math.max(blockMax, scores[g * KEY_BLOCK + j]);
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
                    Vec.axpyRows(scores, g * KEY_BLOCK, v, s0 * headDim, n, headDim, acc, g * headDim);
                }
            }
            for (int g = 0; g < group; g++) {
                float inv = 1f / sum[g];
                int oOff = qBase + g * headDim;
                for (int i = 0; i < headDim; i++) out[oOff + i] = acc[g * headDim + i] * inv;
            }
        });
        return out;
    }
}
