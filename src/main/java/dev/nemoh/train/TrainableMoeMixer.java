package dev.nemoh.train;

import dev.nemoh.config.NemotronHConfig;
import dev.nemoh.kernels.Vec;
import dev.nemoh.model.MoeMixer;

import java.util.ArrayList;
import java.util.List;

/**
 * Training form of {@link MoeMixer}, with its routing. The choice of experts (biased by the correction bias) has no
 * gradient; the chosen experts' weights do, through the sigmoid scores and their normalisation, into the router.
 */
final class TrainableMoeMixer implements TrainableMixer {
    final NemotronHConfig c;
    final Projection gate;
    final float[] correctionBias;
    final TrainableMlpMixer[] experts;
    final TrainableMlpMixer sharedExpert;
    final Projection latentIn, latentOut;

    private float[] logits;
    private MoeMixer.Route[] routes;
    private List<List<int[]>> hits; // per expert: {token, slot}
    private float[][] expertOut;
    private int width;

    TrainableMoeMixer(NemotronHConfig c, Projection gate, float[] correctionBias, TrainableMlpMixer[] experts, TrainableMlpMixer sharedExpert,
             Projection latentIn, Projection latentOut) {
        this.c = c;
        this.gate = gate;
        this.correctionBias = correctionBias;
        this.experts = experts;
        this.sharedExpert = sharedExpert;
        this.latentIn = latentIn;
        this.latentOut = latentOut;
    }

    @Override
    public float[] forward(float[] x, int len) {
        logits = gate.forward(x, len);
        routes = new MoeMixer.Route[len];
        for (int t = 0; t < len; t++) routes[t] = MoeMixer.route(c, correctionBias, logits, t * c.nRoutedExperts);
        float[] expertIn = latentIn != null ? latentIn.forward(x, len) : x;
        width = expertIn.length / len;
        float[] routed = new float[len * width];
        hits = new ArrayList<>();
        expertOut = new float[experts.length][];
        for (int e = 0; e < experts.length; e++) {
            List<int[]> mine = new ArrayList<>();
            for (int t = 0; t < len; t++) {
                int[] chosen = routes[t].experts();
                for (int k = 0; k < chosen.length; k++) if (chosen[k] == e) mine.add(new int[] {t, k});
            }
            hits.add(mine);
            if (mine.isEmpty()) continue;
            float[] in = new float[mine.size() * width];
            for (int i = 0; i < mine.size(); i++) System.arraycopy(expertIn, mine.get(i)[0] * width, in, i * width, width);
            expertOut[e] = experts[e].forward(in, mine.size());
            for (int i = 0; i < mine.size(); i++) {
                int[] hit = mine.get(i);
                Vec.axpy(routes[hit[0]].weights()[hit[1]], expertOut[e], i * width, routed, hit[0] * width, width);
            }
        }
        float[] y = latentOut != null ? latentOut.forward(routed, len) : routed;
        Vec.add(y, sharedExpert.forward(x, len), y.length);
        return y;
    }

    @Override
    public float[] backward(float[] dy, int len) {
        float[] dRouted = latentOut != null ? latentOut.backward(dy, len) : dy;
        float[] dx = sharedExpert.backward(dy, len);
        float[] dExpertIn = new float[len * width];
        int k = c.numExpertsPerTok;
        float[] dWeight = new float[len * k];
        for (int e = 0; e < experts.length; e++) {
            List<int[]> mine = hits.get(e);
            if (mine.isEmpty()) continue;
            float[] dOut = new float[mine.size() * width];
            for (int i = 0; i < mine.size(); i++) {
                int t = mine.get(i)[0], slot = mine.get(i)[1];
                Vec.axpy(routes[t].weights()[slot], dRouted, t * width, dOut, i * width, width);
                dWeight[t * k + slot] = Vec.dot(dRouted, t * width, expertOut[e], i * width, width);
            }
            float[] dIn = experts[e].backward(dOut, mine.size());
            for (int i = 0; i < mine.size(); i++) Vec.axpy(1f, dIn, i * width, dExpertIn, mine.get(i)[0] * width, width);
        }
        Vec.add(dx, latentIn != null ? latentIn.backward(dExpertIn, len) : dExpertIn, dx.length);
        Vec.add(dx, gate.backward(routerGradient(dWeight, len), len), dx.length);
        return dx;
    }

    /** dL/d(router logits) from dL/d(chosen weights), through {@code w_k = rsf · s_k / Σ s} and {@code s = σ(logit)}. */
    private float[] routerGradient(float[] dWeight, int len) {
        int n = c.nRoutedExperts, k = c.numExpertsPerTok;
        float rsf = (float) c.routedScalingFactor;
        float[] dLogits = new float[len * n];
        for (int t = 0; t < len; t++) {
            int[] chosen = routes[t].experts();
            float[] s = new float[k];
            float sum = 0, weighted = 0;
            for (int j = 0; j < k; j++) {
                s[j] = 1f / (1f + (float) Math.exp(-logits[t * n + chosen[j]]));
                sum += s[j];
                weighted += dWeight[t * k + j] * s[j];
            }
            for (int j = 0; j < k; j++) {
                float ds = c.normTopkProb
                        ? rsf * (dWeight[t * k + j] / (sum + 1e-20f) - weighted / ((sum + 1e-20f) * (sum + 1e-20f)))
                        : rsf * dWeight[t * k + j];
                dLogits[t * n + chosen[j]] += ds * s[j] * (1 - s[j]);
            }
        }
        return dLogits;
    }
}
