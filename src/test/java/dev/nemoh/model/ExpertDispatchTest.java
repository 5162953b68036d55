package dev.nemoh.model;

import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** Tokens grouped by expert in token order, and gather and scatter-add as each other's transpose. */
class ExpertDispatchTest {
    static final TopkRouter.Route[] ROUTES = {
            new TopkRouter.Route(new int[] {2, 0}, new float[] {0.5f, 0.25f}),
            new TopkRouter.Route(new int[] {0, 3}, new float[] {2f, 1f}),
            new TopkRouter.Route(new int[] {3, 2}, new float[] {0.75f, 4f})};

    @Test
    void groupsEachExpertsHitsInTokenOrder() {
        ExpertDispatch d = ExpertDispatch.of(ROUTES, 4);
        assertArrayEquals(new int[] {0, 2, 2, 4, 6}, d.start());
        assertArrayEquals(new int[] {0, 1, 0, 2, 1, 2}, d.token());
        assertArrayEquals(new int[] {1, 0, 0, 1, 1, 0}, d.slot());
        assertEquals(0, d.hits(1));
        assertEquals(4f, d.weight(3));
    }

    @Test
    void gatherAndScatterAddAreTransposes() {
        ExpertDispatch d = ExpertDispatch.of(ROUTES, 4);
        int width = 3;
        SplittableRandom r = new SplittableRandom(5);
        float[] x = new float[ROUTES.length * width];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        for (boolean weighted : new boolean[] {false, true}) {
            for (int e = 0; e < 4; e++) {
                float[] rows = new float[d.hits(e) * width];
                for (int i = 0; i < rows.length; i++) rows[i] = (float) r.nextGaussian();
                float[] scattered = new float[x.length];
                d.scatterAdd(e, rows, width, weighted, scattered);
                // <gather(x), rows> = <x, scatterAdd(rows)>
                assertEquals(dot(d.gather(e, x, width, weighted), rows), dot(x, scattered), 1e-5);
            }
        }
    }

    @Test
    void combineRunsEachChosenExpertOnceOverItsTokens() {
        ExpertDispatch d = ExpertDispatch.of(ROUTES, 4);
        float[] x = {1, 2, 3};
        int[] calls = new int[4];
        float[][] kept = new float[4][];
        // expert e multiplies by e + 1
        float[] y = d.combine(x, 1, (e, rows, n) -> {
            calls[e]++;
            float[] out = rows.clone();
            for (int i = 0; i < n; i++) out[i] *= e + 1;
            return out;
        }, kept);
        assertArrayEquals(new int[] {1, 0, 1, 1}, calls);
        assertEquals(null, kept[1]);
        assertArrayEquals(new float[] {0.5f * 3 * 1 + 0.25f * 1 * 1, 2f * 1 * 2 + 1f * 4 * 2, 0.75f * 4 * 3 + 4f * 3 * 3}, y, 1e-6f);
    }

    private static double dot(float[] a, float[] b) {
        double s = 0;
        for (int i = 0; i < a.length; i++) s += (double) a[i] * b[i];
        return s;
    }
}
