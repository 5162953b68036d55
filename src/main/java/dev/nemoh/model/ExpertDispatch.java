package dev.nemoh.model;

import dev.nemoh.kernels.Vec;

import java.util.Arrays;

/**
 * The routed (token, slot) pairs of a batch grouped by expert, tokens ascending within each, so that every expert
 * runs once on the rows of all its tokens: expert e owns the hits [start[e], start[e + 1]), hit i being slot
 * {@code slot[i]} of token {@code token[i]}. {@link #gather} and {@link #scatterAdd} are each other's transpose, so
 * the backward moves gradients with the same two.
 */
public record ExpertDispatch(TopkRouter.Route[] routes, int[] start, int[] token, int[] slot) {
    /** One expert's forward over the rows gathered for it, [rows, width] → [rows, width]. */
    public interface Expert {
        float[] forward(int expert, float[] rows, int n);
    }

    public static ExpertDispatch of(TopkRouter.Route[] routes, int experts) {
        int[] start = new int[experts + 1];
        for (TopkRouter.Route r : routes) for (int e : r.experts()) start[e + 1]++;
        for (int e = 0; e < experts; e++) start[e + 1] += start[e];
        int[] next = Arrays.copyOf(start, experts);
        int[] token = new int[start[experts]], slot = new int[start[experts]];
        for (int t = 0; t < routes.length; t++) {
            int[] chosen = routes[t].experts();
            for (int k = 0; k < chosen.length; k++) {
                int hit = next[chosen[k]]++;
                token[hit] = t;
                slot[hit] = k;
            }
        }
        return new ExpertDispatch(routes, start, token, slot);
    }

    /** Tokens routed to expert e. */
    public int hits(int e) {
        return start[e + 1] - start[e];
    }

    /** The route weight of a hit. */
    public float weight(int hit) {
        return routes[token[hit]].weights()[slot[hit]];
    }

    /** Rows of x [tokens, width] of expert e's tokens, [hits, width], each times its route weight when weighted. */
    public float[] gather(int e, float[] x, int width, boolean weighted) {
        float[] rows = new float[hits(e) * width];
        for (int hit = start[e], i = 0; hit < start[e + 1]; hit++, i++) {
            if (weighted) Vec.axpy(weight(hit), x, token[hit] * width, rows, i * width, width);
            else System.arraycopy(x, token[hit] * width, rows, i * width, width);
        }
        return rows;
    }

    /** y[token] += rows[i] for expert e's hits i, each times its route weight when weighted. */
    public void scatterAdd(int e, float[] rows, int width, boolean weighted, float[] y) {
        for (int hit = start[e], i = 0; hit < start[e + 1]; hit++, i++) {
            Vec.axpy(weighted ? weight(hit) : 1f, rows, i * width, y, token[hit] * width, width);
        }
    }

    /**
     * The gradient of a weighted {@link #scatterAdd} by its route weights: {@code dWeights[token · k + slot] =
     * ⟨dy[token], rows[i]⟩} for expert e's hits i, dWeights [tokens, k].
     */
    public void weightGradients(int e, float[] dy, float[] rows, int width, float[] dWeights) {
        for (int hit = start[e], i = 0; hit < start[e + 1]; hit++, i++) {
            int k = routes[token[hit]].experts().length;
            dWeights[token[hit] * k + slot[hit]] = Vec.dot(dy, token[hit] * width, rows, i * width, width);
        }
    }

    /**
     * {@code Σ_k w_k · expert_k(x_t)} for every token t, [tokens, width]: each expert once, on its tokens' rows. When
     * {@code expertOut} is given, expertOut[e] keeps what expert e returned (null if no token chose it).
     */
    public float[] combine(float[] x, int width, Expert expert, float[][] expertOut) {
        float[] y = new float[routes.length * width];
        for (int e = 0; e + 1 < start.length; e++) {
            if (hits(e) == 0) continue;
            float[] out = expert.forward(e, gather(e, x, width, false), hits(e));
            scatterAdd(e, out, width, true, y);
            if (expertOut != null) expertOut[e] = out;
        }
        return y;
    }
}
