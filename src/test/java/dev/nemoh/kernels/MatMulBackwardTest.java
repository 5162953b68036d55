package dev.nemoh.kernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The input gradient {@code dx += dy W} read from bf16 in place, against float64 sums and the float32 path. */
class MatMulBackwardTest {
    @ParameterizedTest
    @CsvSource({"1, 37, 70", "3, 16, 33", "4, 50, 64", "17, 29, 100"})
    void inputGradientOfBf16WeightsMatchesTheWidenedMatrix(int rows, int out, int in) {
        DenseWeights w = QuantizedWeightsTest.random(out, in, rows);
        float[] wf = new float[out * in];
        w.widen(0, out, wf);
        SplittableRandom r = new SplittableRandom(9);
        float[] dy = new float[rows * out], start = new float[rows * in];
        for (int i = 0; i < dy.length; i++) dy[i] = (float) r.nextGaussian();
        for (int i = 0; i < start.length; i++) start[i] = (float) r.nextGaussian();
        float[] dx = start.clone();
        MatMul.matmulInputGrad(dy, rows, w, dx);
        for (int row = 0; row < rows; row++) {
            for (int i = 0; i < in; i++) {
                double s = start[row * in + i];
                for (int o = 0; o < out; o++) s += (double) dy[row * out + o] * wf[o * in + i];
                assertEquals(s, dx[row * in + i], 1e-5 * (1 + Math.abs(s)), "row " + row + ", column " + i);
            }
        }
        // the float32 path (a trained weight) gives the same bits as the bf16 one (a frozen weight)
        float[] viaFloat = start.clone();
        MatMul.matmulBackward(dy, new float[rows * in], rows, wf, out, in, viaFloat, null);
        assertArrayEquals(dx, viaFloat);
    }
}
