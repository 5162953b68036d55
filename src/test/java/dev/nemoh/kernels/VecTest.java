package dev.nemoh.kernels;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class VecTest {
    /** Attention's value sum: n rows at once must give the bits of n axpy calls in row order. */
    @ParameterizedTest
    @CsvSource({"1, 8", "7, 20", "128, 128", "33, 64", "5, 3"})
    void axpyRowsGivesTheBitsOfOneAxpyPerRow(int n, int dim) {
        SplittableRandom r = new SplittableRandom(n * 31L + dim);
        float[] w = new float[n + 3], x = new float[(n + 2) * dim], acc = new float[dim + 5];
        for (int i = 0; i < w.length; i++) w[i] = (float) r.nextGaussian();
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        for (int i = 0; i < acc.length; i++) acc[i] = (float) r.nextGaussian();
        float[] expected = acc.clone();
        for (int j = 0; j < n; j++) Vec.axpy(w[3 + j], x, (2 + j) * dim, expected, 5, dim);
        Vec.axpyRows(w, 3, x, 2 * dim, n, dim, acc, 5);
        assertArrayEquals(expected, acc);
    }

    /** The softmax's exp: within 2 ulp of Math.exp on [-87.34, 0], 0 below, and the same bits in vector lanes and tail. */
    @Test
    void expIsWithinTwoUlpAndTheSameInEveryLane() {
        int n = 200_003;
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = -88f * i / (n - 1);
        float[] lanes = v.clone();
        float sum = Vec.expShifted(lanes, 0, n, 0f);
        double exactSum = 0;
        for (int i = 0; i < n; i++) {
            float x = v[i];
            float expected = (float) Math.exp(x);
            assertEquals(Float.floatToIntBits(Vec.exp(x)), Float.floatToIntBits(lanes[i]), "lane vs scalar at " + x);
            if (x >= -87.33654f) {
                assertTrue(Math.abs(lanes[i] - expected) <= 2 * Math.ulp(expected), "exp(" + x + ") = " + lanes[i] + ", not " + expected);
            } else {
                assertEquals(0f, lanes[i], "below float32's normal range at " + x);
            }
            exactSum += Math.exp(x);
        }
        assertEquals(exactSum, sum, exactSum * 1e-4); // a float32 sum of 200K terms
        // shifted, offset, and a length that is no multiple of the vector length
        float[] w = {9f, 1f, 2f, 3f, 4f, 5f, 6f, 7f, 8f, 0.5f, 9f};
        Vec.expShifted(w, 1, 9, 8f);
        assertEquals(9f, w[0]);
        assertEquals(9f, w[10]);
        for (int i = 1; i <= 9; i++) assertEquals(Math.exp((i == 9 ? 0.5f : i) - 8f), w[i], 3e-7 * Math.exp(i - 8f));
    }

    @Test
    void dot4MatchesFourDots() {
        SplittableRandom r = new SplittableRandom(4);
        for (int dim : new int[] {3, 16, 37, 128}) {
            float[] q = new float[dim + 2], k = new float[5 * dim], out = new float[7];
            for (int i = 0; i < q.length; i++) q[i] = (float) r.nextGaussian();
            for (int i = 0; i < k.length; i++) k[i] = (float) r.nextGaussian();
            Vec.dot4Unordered(q, 2, k, dim, dim, 0.5f, out, 3);
            for (int row = 0; row < 4; row++) {
                double exact = 0;
                for (int i = 0; i < dim; i++) exact += (double) q[2 + i] * k[(1 + row) * dim + i];
                assertEquals(0.5 * exact, out[3 + row], 1e-5 * dim, "dim " + dim + " row " + row);
            }
            assertEquals(0f, out[0]);
        }
    }

    @Test
    void widenBf16IsExact() {
        short[] src = new short[41];
        for (int i = 0; i < src.length; i++) src[i] = dev.nemoh.tensor.Numerics.floatToBf16((float) Math.sin(i) * (i + 1));
        float[] dst = new float[37];
        Vec.widenBf16(src, 3, dst, 37);
        for (int i = 0; i < 37; i++) assertEquals(dev.nemoh.tensor.Numerics.bf16ToFloat(src[3 + i]), dst[i]);
    }
}
