package dev.nemoh.model;

import dev.nemoh.config.NemotronHConfig;

import java.util.Arrays;

/**
 * The routing rule of transformers' NemotronHTopkRouter, from the gate's logits: sigmoid scores; experts chosen by
 * score plus {@code e_score_correction_bias} within the {@code topk_group} best groups; weighted by the plain scores
 * (normalised over the chosen ones when {@code norm_topk_prob}) times {@code routed_scaling_factor}. The backward
 * takes the weights' gradient to the logits; the choice itself is piecewise constant and has none.
 */
public final class TopkRouter {
    /** The experts chosen for one token and their weights, slot by slot. */
    public record Route(int[] experts, float[] weights) {}

    private final NemotronHConfig c;
    /** Steers the choice of experts, not their weights. */
    public final float[] correctionBias;

    public TopkRouter(NemotronHConfig c, float[] correctionBias) {
        this.c = c;
        this.correctionBias = correctionBias;
    }

    /** The route of each of {@code len} tokens from their logits [len, experts]. */
    public Route[] forward(float[] logits, int len) {
        Route[] routes = new Route[len];
        for (int t = 0; t < len; t++) routes[t] = route(logits, t * c.nRoutedExperts);
        return routes;
    }

    private Route route(float[] logits, int off) {
        int n = c.nRoutedExperts;
        float[] scores = new float[n];
        float[] choice = new float[n];
        for (int e = 0; e < n; e++) {
            scores[e] = 1f / (1f + (float) Math.exp(-logits[off + e]));
            choice[e] = scores[e] + correctionBias[e];
        }
        if (c.nGroup > 1) maskGroups(choice);
        int k = c.numExpertsPerTok;
        int[] chosen = topK(choice, k);
        float[] w = new float[k];
        float sum = 0;
        for (int i = 0; i < k; i++) {
            w[i] = scores[chosen[i]];
            sum += w[i];
        }
        float norm = c.normTopkProb ? 1f / (sum + 1e-20f) : 1f;
        for (int i = 0; i < k; i++) w[i] = w[i] * norm * (float) c.routedScalingFactor;
        return new Route(chosen, w);
    }

    /**
     * dL/d(logits) [len, experts] from dL/d(route weights) [len, k], through {@code w_j = rsf · s_j / Σ s} (or
     * {@code rsf · s_j}) and {@code s = σ(logit)}; zero for the experts a token did not choose.
     */
    public float[] backward(float[] logits, Route[] routes, float[] dWeights, int len) {
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
                weighted += dWeights[t * k + j] * s[j];
            }
            for (int j = 0; j < k; j++) {
                float ds = c.normTopkProb
                        ? rsf * (dWeights[t * k + j] / (sum + 1e-20f) - weighted / ((sum + 1e-20f) * (sum + 1e-20f)))
                        : rsf * dWeights[t * k + j];
                dLogits[t * n + chosen[j]] += ds * s[j] * (1 - s[j]);
            }
        }
        return dLogits;
    }

    /** Indices of the k largest values, largest first (lowest index among equals); k is a handful, so a scan per pick. */
    private static int[] topK(float[] v, int k) {
        int[] chosen = new int[k];
        boolean[] taken = new boolean[v.length];
        for (int i = 0; i < k; i++) {
            int best = -1;
            for (int j = 0; j < v.length; j++) {
                if (!taken[j] && (best < 0 || v[j] > v[best])) best = j;
            }
            chosen[i] = best;
            taken[best] = true;
        }
        return chosen;
    }

    /** Keeps the experts of the {@code topk_group} groups whose two best choice scores sum highest. */
    private void maskGroups(float[] choice) {
        int groupSize = c.nRoutedExperts / c.nGroup;
        float[] groupScore = new float[c.nGroup];
        for (int g = 0; g < c.nGroup; g++) {
            float[] sorted = Arrays.copyOfRange(choice, g * groupSize, (g + 1) * groupSize);
            Arrays.sort(sorted);
            groupScore[g] = sorted[groupSize - 1] + sorted[groupSize - 2];
        }
        boolean[] keep = new boolean[c.nGroup];
        for (int g : topK(groupScore, c.topkGroup)) keep[g] = true;
        for (int g = 0; g < c.nGroup; g++) {
            if (!keep[g]) Arrays.fill(choice, g * groupSize, (g + 1) * groupSize, Float.NEGATIVE_INFINITY);
        }
    }
}
