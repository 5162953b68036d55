package dev.nemoh.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The prefill tile sums each output in {@link Vec#dot}'s order (one vector accumulator over the whole row, lanes added
 * in order): the same bits for any number of rows, which a tile that blocks the inner dimension must keep.
 */
class MatMulTest {
    @ParameterizedTest
    @CsvSource({"4, 16, 8", "5, 7, 5", "13, 21, 300", "25, 33, 1027", "64, 17, 4096"})
    void tiledRowsGiveTheBitsOfOneDotProduct(int rows, int out, int in) {
        SplittableRandom r = new SplittableRandom(3);
        float[] x = new float[rows * in], w = new float[out * in];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        for (int i = 0; i < w.length; i++) w[i] = (float) r.nextGaussian();
        float[] y = MatMul.matmul(x, rows, w, out, in);
        for (int row = 0; row < rows; row++) {
            for (int o = 0; o < out; o++) {
                assertEquals(Vec.dot(x, row * in, w, o * in, in), y[row * out + o], 0f, "row " + row + ", output " + o);
            }
        }
    }
}
