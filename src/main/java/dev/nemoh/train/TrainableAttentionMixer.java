package dev.nemoh.train;

import dev.nemoh.config.NemotronHConfig;
import dev.nemoh.kernels.Parallel;
import dev.nemoh.kernels.Vec;

/**
 * Training form of {@link dev.nemoh.model.AttentionMixer}: causal GQA, softmax(q·kᵀ/√headDim), no rotary embedding.
 * The forward keeps only each query row's softmax max and sum per head, not the [heads, len, len] probabilities: the
 * backward recomputes a row's probabilities from q, k and those two numbers, bit for bit as the forward had them.
 */
final class TrainableAttentionMixer implements TrainableMixer {
    final Projection qProj, kProj, vProj, oProj;
    private final int heads, kvHeads, headDim;
    private final float scaling;
    private float[] q, k, v, rowMax, rowSum;

    TrainableAttentionMixer(NemotronHConfig c, Projection qProj, Projection kProj, Projection vProj, Projection oProj) {
        this.qProj = qProj;
        this.kProj = kProj;
        this.vProj = vProj;
        this.oProj = oProj;
        this.heads = c.numAttentionHeads;
        this.kvHeads = c.numKeyValueHeads;
        this.headDim = c.headDim;
        this.scaling = (float) (1.0 / Math.sqrt(headDim));
    }

    /** {@code exp(score − max)} of query row t of head h against keys 0..t into p; the max if not given (NaN). */
    private float expScores(int h, int t, float[] p, float max) {
        int qw = heads * headDim, kw = kvHeads * headDim, kOff = h / (heads / kvHeads) * headDim;
        float seen = Float.NEGATIVE_INFINITY;
        for (int s = 0; s <= t; s++) {
            p[s] = Vec.dot(q, t * qw + h * headDim, k, s * kw + kOff, headDim) * scaling;
            seen = Math.max(seen, p[s]);
        }
        float shift = Float.isNaN(max) ? seen : max;
        for (int s = 0; s <= t; s++) p[s] = (float) Math.exp(p[s] - shift);
        return shift;
    }

    @Override
    public float[] forward(float[] x, int len) {
        q = qProj.forward(x, len);
        k = kProj.forward(x, len);
        v = vProj.forward(x, len);
        rowMax = new float[heads * len];
        rowSum = new float[heads * len];
        float[] out = new float[len * heads * headDim];
        int qw = heads * headDim, kw = kvHeads * headDim, group = heads / kvHeads;
        Parallel.forEach(heads, (long) len * len * headDim, h -> {
            int kOff = h / group * headDim;
            float[] p = new float[len];
            for (int t = 0; t < len; t++) {
                rowMax[h * len + t] = expScores(h, t, p, Float.NaN);
                float sum = 0;
                for (int s = 0; s <= t; s++) sum += p[s];
                rowSum[h * len + t] = sum;
                for (int s = 0; s <= t; s++) {
                    p[s] /= sum;
                    Vec.axpy(p[s], v, s * kw + kOff, out, t * qw + h * headDim, headDim);
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
        Parallel.forEach(kvHeads, (long) group * len * len * headDim * 5, kvh -> {
            int kOff = kvh * headDim;
            float[] p = new float[len], dp = new float[len];
            for (int h = kvh * group; h < (kvh + 1) * group; h++) {
                for (int t = 0; t < len; t++) {
                    expScores(h, t, p, rowMax[h * len + t]);
                    float sum = rowSum[h * len + t];
                    int o = t * qw + h * headDim;
                    float dot = 0;
                    for (int s = 0; s <= t; s++) {
                        p[s] /= sum;
                        dp[s] = Vec.dot(dOut, o, v, s * kw + kOff, headDim);
                        dot += p[s] * dp[s];
                        Vec.axpy(p[s], dOut, o, dv, s * kw + kOff, headDim);
                    }
                    for (int s = 0; s <= t; s++) {
                        float dScore = p[s] * (dp[s] - dot) * scaling;
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
