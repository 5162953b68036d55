package dev.nemoh.train;

import dev.nemoh.config.KvCacheDtype;
import dev.nemoh.config.NemotronHConfig;
import dev.nemoh.kernels.CausalAttention;
import dev.nemoh.kernels.Vec;
import dev.nemoh.model.AttentionMixer;
import dev.nemoh.model.HybridCache;

/**
 * Training form of {@link AttentionMixer}, on the same {@link CausalAttention} in its reproducible form. The forward
 * keeps q, the keys and values (laid out per KV head, as a KV cache holds them) and each row's softmax max and sum,
 * not the [heads, len, len] probabilities, which the backward recomputes from those.
 */
final class TrainableAttentionMixer implements TrainableMixer {
    final Projection qProj, kProj, vProj, oProj;
    private final CausalAttention attention;
    private float[] q, rowMax, rowSum;
    private HybridCache.KvCache kv;

    TrainableAttentionMixer(NemotronHConfig c, Projection qProj, Projection kProj, Projection vProj, Projection oProj) {
        this.qProj = qProj;
        this.kProj = kProj;
        this.vProj = vProj;
        this.oProj = oProj;
        this.attention = new CausalAttention(c.numAttentionHeads, c.numKeyValueHeads, c.headDim, true);
    }

    @Override
    public float[] forward(float[] x, int len) {
        q = qProj.forward(x, len);
        kv = new HybridCache.KvCache(attention.kvHeads(), attention.headDim(), KvCacheDtype.FLOAT32);
        kv.append(kProj.forward(x, len), vProj.forward(x, len), len);
        rowMax = new float[len * attention.heads()];
        rowSum = new float[len * attention.heads()];
        float[] out = new float[q.length];
        attention.forward(q, 0, len, 0, kv.keysValues, out, rowMax, rowSum);
        return oProj.forward(out, len);
    }

    @Override
    public float[] backward(float[] dy, int len) {
        float[] dOut = oProj.backward(dy, len);
        float[] dq = new float[q.length], dk = new float[len * attention.kvHeads() * attention.headDim()], dv = new float[dk.length];
        attention.backward(q, kv.keysValues, dOut, rowMax, rowSum, len, dq, dk, dv);
        float[] dx = qProj.backward(dq, len);
        Vec.add(dx, kProj.backward(dk, len), dx.length);
        Vec.add(dx, vProj.backward(dv, len), dx.length);
        return dx;
    }
}
