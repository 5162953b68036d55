package dev.nemoh.kernels;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/** The register tile of the prefill matmul: up to 4 input rows against up to 2 float32 weight rows. */
final class Tile {
    private Tile() {}

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

    static void run(float[] x, int r, int n, int in, float[] w, int o, int m, float[] y, int out, int yCol, float scale,
                    boolean add) {
        FloatVector a00 = FloatVector.zero(F), a01 = FloatVector.zero(F), a10 = FloatVector.zero(F), a11 = FloatVector.zero(F);
        FloatVector a20 = FloatVector.zero(F), a21 = FloatVector.zero(F), a30 = FloatVector.zero(F), a31 = FloatVector.zero(F);
        int w0 = o * in, w1 = m > 1 ? w0 + in : w0;
        int x0 = r * in, x1 = n > 1 ? x0 + in : x0, x2 = n > 2 ? x0 + 2 * in : x0, x3 = n > 3 ? x0 + 3 * in : x0;
        int i = 0;
        for (int bound = F.loopBound(in); i < bound; i += F.length()) {
            FloatVector v0 = FloatVector.fromArray(F, w, w0 + i);
            FloatVector v1 = FloatVector.fromArray(F, w, w1 + i);
            FloatVector u = FloatVector.fromArray(F, x, x0 + i);
            a00 = u.fma(v0, a00);
            a01 = u.fma(v1, a01);
            u = FloatVector.fromArray(F, x, x1 + i);
            a10 = u.fma(v0, a10);
            a11 = u.fma(v1, a11);
            u = FloatVector.fromArray(F, x, x2 + i);
            a20 = u.fma(v0, a20);
            a21 = u.fma(v1, a21);
            u = FloatVector.fromArray(F, x, x3 + i);
            a30 = u.fma(v0, a30);
            a31 = u.fma(v1, a31);
        }
        // Vec.sum, not reduceLanes: the same rounding in every JIT tier, so training runs repeat exactly
        float[] s = {Vec.sum(a00), Vec.sum(a01), Vec.sum(a10), Vec.sum(a11), Vec.sum(a20), Vec.sum(a21), Vec.sum(a30), Vec.sum(a31)};
        int[] xs = {x0, x1, x2, x3};
        for (; i < in; i++) {
            for (int k = 0; k < 4; k++) {
                s[2 * k] += x[xs[k] + i] * w[w0 + i];
                s[2 * k + 1] += x[xs[k] + i] * w[w1 + i];
            }
        }
        for (int k = 0; k < n; k++) {
            for (int j = 0; j < m; j++) {
                int at = (r + k) * out + yCol + j;
                y[at] = add ? y[at] + scale * s[2 * k + j] : scale * s[2 * k + j];
            }
        }
    }
}
