package dev.nemoh.model;

import dev.nemoh.config.KvCacheDtype;
import dev.nemoh.config.NemotronHConfig;
import dev.nemoh.kernels.CausalAttention;

import java.util.Arrays;

/**
 * Causal grouped-query attention exactly as transformers' NemotronHAttention computes it: q/k/v projections,
 * softmax(q·kᵀ/√headDim) over past and present keys ({@link CausalAttention}), o_proj. No rotary embedding and no QK
 * norm: the reference code defines {@code apply_rotary_pos_emb} but never calls it, so position comes only from the
 * Mamba layers.
 */
public record AttentionMixer(Linear qProj, Linear kProj, Linear vProj, Linear oProj, CausalAttention attention)
        implements Mixer {
    public AttentionMixer(NemotronHConfig c, Linear qProj, Linear kProj, Linear vProj, Linear oProj) {
        this(qProj, kProj, vProj, oProj, new CausalAttention(c.numAttentionHeads, c.numKeyValueHeads, c.headDim, false));
    }

    @Override
    public long decodeWeightBytes() {
        return qProj.weight.bytes() + kProj.weight.bytes() + vProj.weight.bytes() + oProj.weight.bytes();
    }

    @Override
    public float[] forward(float[] x, int len, HybridCache.Layer layerCache, LoraAdapter[] adapters) {
        float[] q = qProj.forward(x, len, adapters);
        HybridCache.KvCache kv = layerCache instanceof HybridCache.KvCache c ? c
                : new HybridCache.KvCache(attention.kvHeads(), attention.headDim(), KvCacheDtype.FLOAT32);
        int past = kv.length();
        kv.append(kProj.forward(x, len, adapters), vProj.forward(x, len, adapters), len);
        float[] out = new float[len * qProj.out];
        attention.forward(q, 0, len, past, kv.keysValues, out, null, null);
        return oProj.forward(out, len, adapters);
    }

    @Override
    public java.util.List<Linear> linears() {
        return java.util.List.of(qProj, kProj, vProj, oProj);
    }

    @Override
    public float[] decode(float[] x, int batch, HybridCache.Layer[] caches, LoraAdapter[] adapters) {
        float[] q = qProj.forward(x, batch, adapters);
        float[] k = kProj.forward(x, batch, adapters);
        float[] v = vProj.forward(x, batch, adapters);
        int kvWidth = kProj.out;
        float[] out = new float[batch * qProj.out];
        for (int b = 0; b < batch; b++) {
            HybridCache.KvCache kv = (HybridCache.KvCache) caches[b];
            int past = kv.length();
            kv.append(Arrays.copyOfRange(k, b * kvWidth, (b + 1) * kvWidth), Arrays.copyOfRange(v, b * kvWidth, (b + 1) * kvWidth), 1);
            attention.forward(q, b, 1, past, kv.keysValues, out, null, null);
        }
        return oProj.forward(out, batch, adapters);
    }
}
