package dev.nemoh.kernels;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

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
}
