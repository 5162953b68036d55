package dev.nemoh.kernels;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/** Vectorised primitives on float arrays used by the mixers. */
public final class Vec {
    private Vec() {}

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

    public static float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        FloatVector acc = FloatVector.zero(F);
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += F.length()) {
            acc = FloatVector.fromArray(F, a, aOff + i).fma(FloatVector.fromArray(F, b, bOff + i), acc);
        }
        float s = sum(acc);
        for (; i < n; i++) s += a[aOff + i] * b[bOff + i];
        return s;
    }

    /**
     * The sum of the lanes, added in lane order. {@code reduceLanes(ADD)} leaves the order to the implementation: the
     * interpreter's fallback and C2's intrinsic add in different orders, so the same dot product rounds differently
     * before and after the JIT compiles it, and a training run resumed in a new JVM would not repeat its loss curve
     * bit for bit. One fixed order costs a few adds per dot product.
     */
    public static float sum(FloatVector v) {
        float s = 0;
        for (int lane = 0; lane < v.length(); lane++) s += v.lane(lane);
        return s;
    }

    /** {@code y[yOff..] += a · x[xOff..]} */
    public static void axpy(float a, float[] x, int xOff, float[] y, int yOff, int n) {
        int i = 0;
        FloatVector av = FloatVector.broadcast(F, a);
        for (int bound = F.loopBound(n); i < bound; i += F.length()) {
            FloatVector.fromArray(F, x, xOff + i).fma(av, FloatVector.fromArray(F, y, yOff + i)).intoArray(y, yOff + i);
        }
        for (; i < n; i++) y[yOff + i] += a * x[xOff + i];
    }

    /**
     * {@code acc[accOff + d] += Σ_j w[wOff + j] · x[xOff + j · dim + d]} for j < n in order and d < dim: {@link #axpy}
     * of n rows into one accumulator row, with the same bits, but each vector of the accumulator kept in a register
     * across the n rows instead of loaded and stored once per row.
     */
    public static void axpyRows(float[] w, int wOff, float[] x, int xOff, int n, int dim, float[] acc, int accOff) {
        int d = 0;
        for (int bound = F.loopBound(dim); d < bound; d += F.length()) {
            FloatVector a = FloatVector.fromArray(F, acc, accOff + d);
            for (int j = 0; j < n; j++) a = FloatVector.fromArray(F, x, xOff + j * dim + d).fma(FloatVector.broadcast(F, w[wOff + j]), a);
            a.intoArray(acc, accOff + d);
        }
        for (; d < dim; d++) {
            for (int j = 0; j < n; j++) acc[accOff + d] += w[wOff + j] * x[xOff + j * dim + d];
        }
    }

    /** {@code y[yOff..] = a · y[yOff..]} */
    public static void scale(float a, float[] y, int yOff, int n) {
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += F.length()) {
            FloatVector.fromArray(F, y, yOff + i).mul(a).intoArray(y, yOff + i);
        }
        for (; i < n; i++) y[yOff + i] *= a;
    }

    public static void add(float[] acc, float[] x, int n) {
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += F.length()) {
            FloatVector.fromArray(F, acc, i).add(FloatVector.fromArray(F, x, i)).intoArray(acc, i);
        }
        for (; i < n; i++) acc[i] += x[i];
    }

    /** {@code v[off + i] = exp(v[off + i] - shift)} for i < n, vectorised; returns the sum. */
    public static float expShifted(float[] v, int off, int n, float shift) {
        FloatVector acc = FloatVector.zero(F);
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += F.length()) {
            FloatVector e = FloatVector.fromArray(F, v, off + i).sub(shift).lanewise(VectorOperators.EXP);
            e.intoArray(v, off + i);
            acc = acc.add(e);
        }
        float s = acc.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            v[off + i] = (float) Math.exp(v[off + i] - shift);
            s += v[off + i];
        }
        return s;
    }

    /**
     * As {@link #dot}, with the lanes added in whatever order the JIT picks ({@code reduceLanes}): a few instructions
     * instead of {@link #sum}'s lane-by-lane loop, which costs as much as the products themselves for the 64–128-long
     * dot products of attention scores. For inference only, where the last bit may differ between JIT tiers. The
     * loop is {@link #dot}'s, written again on purpose: a shared helper returning the accumulator vector was not
     * inlined by C2 in the model ("already compiled into a big method"), and a vector returned from a call is boxed.
     */
    public static float dotUnordered(float[] a, int aOff, float[] b, int bOff, int n) {
        FloatVector acc = FloatVector.zero(F);
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += F.length()) {
            acc = FloatVector.fromArray(F, a, aOff + i).fma(FloatVector.fromArray(F, b, bOff + i), acc);
        }
        float s = acc.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) s += a[aOff + i] * b[bOff + i];
        return s;
    }

    public static float silu(float x) {
        return x / (1f + (float) Math.exp(-x));
    }

    /** d silu(x) / dx = σ(x) · (1 + x · (1 − σ(x))) */
    public static float siluGrad(float x) {
        float s = 1f / (1f + (float) Math.exp(-x));
        return s * (1 + x * (1 - s));
    }

    /** softplus as torch computes it: linear above 20 to avoid overflow. */
    public static float softplus(float x) {
        return x > 20f ? x : (float) Math.log1p(Math.exp(x));
    }

    public static int argmax(float[] v, int off, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) {
            if (v[off + i] > v[off + best]) best = i;
        }
        return best;
    }
}
