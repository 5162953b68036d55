package dev.nemoh.kernels;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/** Vectorised primitives on float arrays used by the mixers. */
public final class Vec {
    private Vec() {}

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    /** as many shorts as I has ints, so that one S2I conversion fills one int vector */
    private static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(I.vectorBitSize() / 2));

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
     * of n rows into one accumulator row, with the same bits, but the accumulator kept in registers across the n rows
     * instead of loaded and stored once per row. Four accumulator vectors go through the rows together: each one's
     * additions must stay in row order, so a single vector would wait on its previous FMA's latency at every row.
     */
    public static void axpyRows(float[] w, int wOff, float[] x, int xOff, int n, int dim, float[] acc, int accOff) {
        int lanes = F.length();
        int d = 0;
        for (int bound = dim - 4 * lanes; d <= bound; d += 4 * lanes) {
            FloatVector a0 = FloatVector.fromArray(F, acc, accOff + d);
            FloatVector a1 = FloatVector.fromArray(F, acc, accOff + d + lanes);
            FloatVector a2 = FloatVector.fromArray(F, acc, accOff + d + 2 * lanes);
            FloatVector a3 = FloatVector.fromArray(F, acc, accOff + d + 3 * lanes);
            for (int j = 0, row = xOff + d; j < n; j++, row += dim) {
                FloatVector wj = FloatVector.broadcast(F, w[wOff + j]);
                a0 = FloatVector.fromArray(F, x, row).fma(wj, a0);
                a1 = FloatVector.fromArray(F, x, row + lanes).fma(wj, a1);
                a2 = FloatVector.fromArray(F, x, row + 2 * lanes).fma(wj, a2);
                a3 = FloatVector.fromArray(F, x, row + 3 * lanes).fma(wj, a3);
            }
            a0.intoArray(acc, accOff + d);
            a1.intoArray(acc, accOff + d + lanes);
            a2.intoArray(acc, accOff + d + 2 * lanes);
            a3.intoArray(acc, accOff + d + 3 * lanes);
        }
        for (int bound = F.loopBound(dim); d < bound; d += lanes) {
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

    private static final float LOG2E = 1.44269504f;
    /** ln 2 in two parts, the first with few enough bits that {@code k · LN2_HI} is exact (Cody and Waite). */
    private static final float LN2_HI = 0.693359375f, LN2_LO = -2.12194440e-4f;
    /** Adding and subtracting 1.5 · 2²³ rounds a float of magnitude below 2²² to the nearest integer. */
    private static final float ROUND = 12582912f;
    /** Below this, e^x is under float32's smallest normal; such terms are set to 0 (they cannot move a softmax). */
    private static final float EXP_MIN = -87.33654f;
    /** 1/k! for k = 7 down to 2: e^r = 1 + r + r²/2! + … + r⁷/7!, |r| ≤ ln2/2 (error below 6e-9 relative). */
    private static final float C7 = 1.98412698e-4f, C6 = 1.38888889e-3f, C5 = 8.33333333e-3f, C4 = 4.16666667e-2f,
            C3 = 1.66666667e-1f, C2 = 0.5f;

    /**
     * e^x for x ≤ 0 with the operations of {@link #expShifted}'s vector lanes, so that an element gets the same bits
     * whether it falls in a vector or in the tail.
     */
    static float exp(float x) {
        if (x < EXP_MIN) return 0f;
        float k = (x * LOG2E + ROUND) - ROUND;
        float r = Math.fma(k, -LN2_LO, Math.fma(k, -LN2_HI, x));
        float p = Math.fma(Math.fma(Math.fma(Math.fma(Math.fma(Math.fma(C7, r, C6), r, C5), r, C4), r, C3), r, C2), r, 1f);
        p = Math.fma(p, r, 1f);
        return p * Float.intBitsToFloat(((int) k + 127) << 23);
    }

    /**
     * {@code v[off + i] = exp(v[off + i] - shift)} for i < n; returns their sum, added in a fixed order (as {@link #sum}).
     * The arguments are ≤ 0 (softmax scores less their maximum). exp is written out here rather than taken from
     * {@code VectorOperators.EXP}, which C2 compiled to a library call per vector or, at some call sites, a per-lane
     * fallback: with four exponentials per cached key in a GQA group of four, the softmax then cost as much as
     * reading the keys. x = k·ln2 + r, |r| ≤ ln2/2; e^r by its Taylor polynomial, 2^k in the exponent bits (within
     * 2 ulp of Math.exp, see VecTest).
     */
    public static float expShifted(float[] v, int off, int n, float shift) {
        FloatVector acc = FloatVector.zero(F);
        FloatVector minusLn2Hi = FloatVector.broadcast(F, -LN2_HI), minusLn2Lo = FloatVector.broadcast(F, -LN2_LO);
        FloatVector c5 = FloatVector.broadcast(F, C5), c4 = FloatVector.broadcast(F, C4), c3 = FloatVector.broadcast(F, C3);
        FloatVector c2 = FloatVector.broadcast(F, C2), one = FloatVector.broadcast(F, 1f);
        int i = 0;
        for (int bound = F.loopBound(n); i < bound; i += F.length()) {
            FloatVector x = FloatVector.fromArray(F, v, off + i).sub(shift);
            VectorMask<Float> underflow = x.lt(EXP_MIN);
            FloatVector k = x.mul(LOG2E).add(ROUND).sub(ROUND);
            FloatVector r = k.fma(minusLn2Hi, x);
            r = k.fma(minusLn2Lo, r);
            FloatVector p = r.fma(C7, C6).fma(r, c5).fma(r, c4).fma(r, c3).fma(r, c2).fma(r, one).fma(r, one);
            IntVector bits = ((IntVector) k.convert(VectorOperators.F2I, 0)).add(127).lanewise(VectorOperators.LSHL, 23);
            FloatVector e = p.mul(bits.reinterpretAsFloats()).blend(0f, underflow);
            e.intoArray(v, off + i);
            acc = acc.add(e);
        }
        float s = sum(acc);
        for (; i < n; i++) {
            v[off + i] = exp(v[off + i] - shift);
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

    /**
     * {@code out[outOff + r] = scale · dot(q[qOff..], k[kOff + r · dim..])} for the four rows r < 4 of k, lanes added
     * in the JIT's order as in {@link #dotUnordered}. Attention scores go four keys at a time: each load of q serves
     * four products, and the four sums are independent chains where one key at a time waits on the FMA latency.
     */
    public static void dot4Unordered(float[] q, int qOff, float[] k, int kOff, int dim, float scale, float[] out, int outOff) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        int i = 0;
        for (int bound = F.loopBound(dim); i < bound; i += F.length()) {
            FloatVector x = FloatVector.fromArray(F, q, qOff + i);
            a0 = FloatVector.fromArray(F, k, kOff + i).fma(x, a0);
            a1 = FloatVector.fromArray(F, k, kOff + dim + i).fma(x, a1);
            a2 = FloatVector.fromArray(F, k, kOff + 2 * dim + i).fma(x, a2);
            a3 = FloatVector.fromArray(F, k, kOff + 3 * dim + i).fma(x, a3);
        }
        float s0 = a0.reduceLanes(VectorOperators.ADD), s1 = a1.reduceLanes(VectorOperators.ADD);
        float s2 = a2.reduceLanes(VectorOperators.ADD), s3 = a3.reduceLanes(VectorOperators.ADD);
        for (; i < dim; i++) {
            float x = q[qOff + i];
            s0 += x * k[kOff + i];
            s1 += x * k[kOff + dim + i];
            s2 += x * k[kOff + 2 * dim + i];
            s3 += x * k[kOff + 3 * dim + i];
        }
        out[outOff] = s0 * scale;
        out[outOff + 1] = s1 * scale;
        out[outOff + 2] = s2 * scale;
        out[outOff + 3] = s3 * scale;
    }

    /** {@code dst[0..n) = src[srcOff..srcOff + n)} widened from bf16; returns dst. */
    public static float[] widenBf16(short[] src, int srcOff, float[] dst, int n) {
        int i = 0;
        for (int bound = S.loopBound(n); i < bound; i += S.length()) {
            ShortVector h = ShortVector.fromArray(S, src, srcOff + i);
            ((IntVector) h.convertShape(VectorOperators.S2I, I, 0)).lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().intoArray(dst, i);
        }
        for (; i < n; i++) dst[i] = dev.nemoh.tensor.Numerics.bf16ToFloat(src[srcOff + i]);
        return dst;
    }

    public static float silu(float x) {
        return x / (1f + (float) Math.exp(-x));
    }

    /** d silu(x) / dx = σ(x) · (1 + x · (1 − σ(x))) */
    public static float siluGrad(float x) {
        float s = 1f / (1f + (float) Math.exp(-x));
        return s * (1 + x * (1 - s));
    }

    /** relu(x)², the activation of Nemotron-H's MLP and experts. */
    public static float reluSquared(float x) {
        float r = Math.max(x, 0f);
        return r * r;
    }

    /** d relu(x)² / dx = 2 · relu(x) */
    public static float reluSquaredGrad(float x) {
        return 2 * Math.max(x, 0f);
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
