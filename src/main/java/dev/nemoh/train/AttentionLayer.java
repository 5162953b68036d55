package dev.nemoh.train;

import dev.nemoh.config.NemotronHConfig;
import dev.nemoh.kernels.Parallel;
import dev.nemoh.kernels.Vec;

/**
 * Training form of {@link dev.nemoh.model.AttentionMixer}: causal GQA, softmax(q·kᵀ/√headDim), no rotary embedding.
 * Unlike the inference mixer's online softmax it keeps every head's probabilities [len, len], which the backward
 * needs.
 */
final class AttentionLayer implements TrainableMixer {
    final Projection qProj, kProj, vProj, oProj;
    private final int heads, kvHeads, headDim;
    private final float scaling;
    private float[] q, k, v, probs;

    AttentionLayer(NemotronHConfig c, Projection qProj, Projection kProj, Projection vProj, Projection oProj) {
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
    public float[] forward(float[] x, int len) {
        q = qProj.forward(x, len);
        k = kProj.forward(x, len);
        v = vProj.forward(x, len);
        probs = new float[heads * len * len];
        float[] out = new float[len * heads * headDim];
        int qw = heads * headDim, kw = kvHeads * headDim, group = heads / kvHeads;
        Parallel.forEach(heads, (long) len * len * headDim, h -> {
            int kOff = h / group * headDim;
            for (int t = 0; t < len; t++) {
                int p0 = (h * len + t) * len;
                float max = Float.NEGATIVE_INFINITY;
                for (int s = 0; s <= t; s++) {
                    probs[p0 + s] = Vec.dot(q, t * qw + h * headDim, k, s * kw + kOff, headDim) * scaling;
                    max = Math.max(max, probs[p0 + s]);
                }
                float sum = 0;
                for (int s = 0; s <= t; s++) {
                    probs[p0 + s] = (float) Math.exp(probs[p0 + s] - max);
                    sum += probs[p0 + s];
                }
                for (int s = 0; s <= t; s++) {
                    probs[p0 + s] /= sum;
                    Vec.axpy(probs[p0 + s], v, s * kw + kOff, out, t * qw + h * headDim, headDim);
                }
            }
        });
        return oProj.forward(out, len);
    }

    @Override
    public float[] backward(float[] dy, int len) {
        float[] dOut = oProj.backward(dy, len);
        int qw = heads * headDim, kw = kvHeads * headDim, group = heads / kvHeads;
        float[] dq = new float[q.length], dk = new float[k.length], dv = new float[v.length];
        // the query heads of one KV head write the same dk/dv rows, so work splits by KV head
        Parallel.forEach(kvHeads, (long) group * len * len * headDim * 4, kvh -> {
            int kOff = kvh * headDim;
            float[] dp = new float[len];
            for (int h = kvh * group; h < (kvh + 1) * group; h++) {
                for (int t = 0; t < len; t++) {
                    int p0 = (h * len + t) * len;
                    int o = t * qw + h * headDim;
                    float dot = 0;
                    for (int s = 0; s <= t; s++) {
                        dp[s] = Vec.dot(dOut, o, v, s * kw + kOff, headDim);
                        dot += probs[p0 + s] * dp[s];
                        Vec.axpy(probs[p0 + s], dOut, o, dv, s * kw + kOff, headDim);
                    }
                    for (int s = 0; s <= t; s++) {
                        float dScore = probs[p0 + s] * (dp[s] - dot) * scaling;
                        Vec.axpy(dScore, k, s * kw + kOff, dq, o, headDim);
                        Vec.axpy(dScore, q, o, dk, s * kw + kOff, headDim);
                    }
                }
            }
        });
        float[] dx = qProj.backward(dq, len);
        Vec.add(dx, kProj.backward(dk, len), dx.length);
        Vec.add(dx, vProj.backward(dv, len), dx.length);
        return dx;
    }
}
