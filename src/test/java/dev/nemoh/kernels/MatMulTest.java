package dev.nemoh.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.nemoh.tensor.Tensor;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The prefill tile sums each output in {@link Vec#dot}'s order (one vector accumulator over the whole row, lanes added
 * in order): the same bits for any number of rows, which a tile that blocks the inner dimension must keep.
 */
class MatMulTest {
    /** Decode (1–3 rows) takes bf16 weight rows two at a time: each output must keep one row's dot-product bits. */
    @ParameterizedTest
    @CsvSource({"1, 16, 8", "2, 7, 5", "3, 21, 300", "1, 33, 1027", "3, 17, 4096"})
    void decodeRowsOverBf16WeightsGiveTheBitsOfOneDotProduct(int rows, int out, int in) {
        SplittableRandom r = new SplittableRandom(5);
        float[] x = new float[rows * in], w = new float[out * in], y = new float[rows * out];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        for (int i = 0; i < w.length; i++) w[i] = (float) r.nextGaussian();
        for (int i = 0; i < y.length; i++) y[i] = (float) r.nextGaussian();
        DenseWeights bf16 = new DenseWeights(Tensor.ofBf16("w", w, out, in));
        float[] before = y.clone();
        MatMul.matmul(x, rows, bf16, 0.5f, y, true);
        for (int row = 0; row < rows; row++) {
            for (int o = 0; o < out; o++) {
                float expected = before[row * out + o] + 0.5f * bf16.dot(o, x, row * in);
                assertEquals(expected, y[row * out + o], 0f, "row " + row + ", output " + o);
            }
        }
    }

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

    /** The Vector API tile, which runs where the native one does not (no compiler at build time, AVX-512, ARM). */
    @ParameterizedTest
    @CsvSource({"1, 1, 8", "4, 2, 300", "3, 1, 1027", "4, 2, 4096"})
    void vectorApiTileGivesTheBitsOfOneDotProduct(int rows, int pair, int in) {
        SplittableRandom r = new SplittableRandom(7);
        float[] x = new float[rows * in], w = new float[pair * in], y = new float[rows * 5];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        for (int i = 0; i < w.length; i++) w[i] = (float) r.nextGaussian();
        Tile.run(x, 0, rows, in, w, 0, pair, y, 5, 1, 2f, false);
        for (int row = 0; row < rows; row++) {
            for (int o = 0; o < pair; o++) {
                assertEquals(2f * Vec.dot(x, row * in, w, o * in, in), y[row * 5 + 1 + o], 0f, "row " + row + ", output " + o);
            }
        }
    }
}
