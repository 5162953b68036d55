package dev.nemoh.model;

import dev.nemoh.config.NemotronHConfig;
import dev.nemoh.kernels.Vec;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Mixture of experts as in Nemotron 3: a sigmoid router whose choice (not its weights) is biased by
 * {@code e_score_correction_bias}, group-limited top-k selection, optional normalisation of the chosen weights,
 * scaling by {@code routed_scaling_factor}; relu² experts (optionally behind a latent projection) and one shared
 * expert that sees every token.
 */
public final class MoeMixer implements Mixer {
    public final NemotronHConfig c;
    public final Linear gate;
    public final float[] correctionBias;
    public final MlpMixer[] experts;
    public final MlpMixer sharedExpert;
    /** Both null without {@code moe_latent_size}. */
    public final Linear latentIn;
    public final Linear latentOut;

    public MoeMixer(NemotronHConfig c, Linear gate, float[] correctionBias, MlpMixer[] experts, MlpMixer sharedExpert,
                    Linear latentIn, Linear latentOut) {
        this.c = c;
        this.gate = gate;
        this.correctionBias = correctionBias;
        this.experts = experts;
        this.sharedExpert = sharedExpert;
        this.latentIn = latentIn;
        this.latentOut = latentOut;
    }

    /** The experts chosen for one token and their weights. */
    public record Route(int[] experts, float[] weights) {}

    @Override
    public long decodeWeightBytes() {
        long experts = 0;
        for (MlpMixer e : this.experts) experts += e.decodeWeightBytes();
        long latent = latentIn == null ? 0 : latentIn.weight.bytes() + latentOut.weight.bytes();
        return gate.weight.bytes() + experts / this.experts.length * c.numExpertsPerTok + sharedExpert.decodeWeightBytes() + latent;
    }

    @Override
    public float[] forward(float[] x, int len, HybridCache.Layer cache) {
        int hidden = c.hiddenSize;
        float[] logits = gate.forward(x, len);
        Route[] routes = new Route[len];
        for (int t = 0; t < len; t++) routes[t] = route(c, correctionBias, logits, t * c.nRoutedExperts);

        float[] expertIn = latentIn != null ? latentIn.forward(x, len) : x;
        int width = latentIn != null ? latentIn.out : hidden;
        float[] routed = new float[len * width];
        // gather the tokens of each expert so that every expert runs once, on all of its tokens
        for (int e = 0; e < experts.length; e++) {
            List<int[]> hits = new ArrayList<>(); // {token, slot}
            for (int t = 0; t < len; t++) {
                int[] chosen = routes[t].experts;
                for (int k = 0; k < chosen.length; k++) if (chosen[k] == e) hits.add(new int[] {t, k});
            }
            if (hits.isEmpty()) continue;
            float[] in = new float[hits.size() * width];
            for (int i = 0; i < hits.size(); i++) System.arraycopy(expertIn, hits.get(i)[0] * width, in, i * width, width);
            float[] out = experts[e].forward(in, hits.size(), null);
            for (int i = 0; i < hits.size(); i++) {
                int t = hits.get(i)[0];
                Vec.axpy(routes[t].weights[hits.get(i)[1]], out, i * width, routed, t * width, width);
            }
        }
        float[] y = latentOut != null ? latentOut.forward(routed, len) : routed;
        Vec.add(y, sharedExpert.forward(x, len, null), len * hidden);
        return y;
    }

    /** Routing is per token and the experts keep no state, so a batch of sequences is just more rows. */
    @Override
    public float[] decode(float[] x, int batch, HybridCache.Layer[] caches) {
        return forward(x, batch, null);
    }

    /**
     * The experts of one token from its router logits at {@code off}: sigmoid scores, chosen by score plus correction
     * bias, weighted by the plain scores (normalised over the chosen ones when {@code norm_topk_prob}) times
     * {@code routed_scaling_factor}.
     */
    public static Route route(NemotronHConfig c, float[] correctionBias, float[] logits, int off) {
        int n = c.nRoutedExperts;
        float[] scores = new float[n];
        float[] choice = new float[n];
        for (int e = 0; e < n; e++) {
            scores[e] = 1f / (1f + (float) Math.exp(-logits[off + e]));
            choice[e] = scores[e] + correctionBias[e];
        }
        if (c.nGroup > 1) maskGroups(c, choice);
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
    private static void maskGroups(NemotronHConfig c, float[] choice) {
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
