package dev.nemoh.kernels;

import dev.nemoh.Requirements;
import dev.nemoh.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class QuantizedWeightsTest {
    static DenseWeights random(int rows, int cols, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] v = new float[rows * cols];
        for (int i = 0; i < v.length; i++) v[i] = (float) (r.nextGaussian() * 0.02 * (i % 97 == 0 ? 10 : 1));
        return new DenseWeights(Tensor.ofBf16("w", v, rows, cols));
    }

    @ParameterizedTest
    @EnumSource(QuantizedWeights.Format.class)
    void dotEqualsTheDequantizedRowAndErrorStaysWithinAStep(QuantizedWeights.Format format) {
        int rows = 37, cols = 256;
        DenseWeights dense = random(rows, cols, 3);
        QuantizedWeights q = QuantizedWeights.quantize(dense, format);
        float[] x = new float[cols];
        SplittableRandom r = new SplittableRandom(5);
        for (int i = 0; i < cols; i++) x[i] = (float) r.nextGaussian();
        float[] w = new float[rows * cols], deq = new float[rows * cols];
        dense.widen(0, rows, w);
        q.widen(0, rows, deq);
        int levels = format == QuantizedWeights.Format.Q8_0 ? 127 : 8;
        for (int row = 0; row < rows; row++) {
            for (int b = 0; b < cols / 32; b++) {
                float amax = 0;
                for (int i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(w[row * cols + b * 32 + i]));
                float step = amax / levels;
                // Q8_0 rounds to the nearest of ±127 steps; Q4_0 maps the extreme value to -8 and clamps the other
                // end at +7, so weights near -extreme can be a whole step off, as in GGML
                float bound = format == QuantizedWeights.Format.Q8_0 ? step / 2 : step;
                for (int i = 0; i < 32; i++) {
                    int k = row * cols + b * 32 + i;
                    assertTrue(Math.abs(w[k] - deq[k]) <= bound * 1.0001f + 1e-9f,
                            format + " weight " + k + ": " + w[k] + " -> " + deq[k] + " (step " + step + ")");
                }
            }
            assertEquals(floatDot(x, 0, deq, row * cols, cols), q.dot(row, x, 0), inputRounding(x, 0, deq, row * cols, cols),
                    format + " row " + row);
        }
        long params = (long) rows * cols;
        assertEquals(params * (format == QuantizedWeights.Format.Q8_0 ? 1 : 0.5) + params / 32 * 4, q.bytes(), 0.0);
    }

    @ParameterizedTest
    @EnumSource(QuantizedWeights.Format.class)
    void matmulOverQuantizedWeightsAgreesForDecodeAndPrefillShapes(QuantizedWeights.Format format) {
        int rows = 40, cols = 96, n = 9;
        QuantizedWeights q = QuantizedWeights.quantize(random(rows, cols, 9), format);
        float[] x = new float[n * cols];
        SplittableRandom r = new SplittableRandom(11);
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        float[] tiled = new float[n * rows];
        MatMul.matmul(x, n, q, 1f, tiled); // several rows: widened block, register tile, float32 input
        float[] deq = new float[rows * cols];
        q.widen(0, rows, deq);
        float[] few = new float[3 * rows];
        MatMul.matmul(x, 3, q, 1f, few); // a decode batch: int8 input
        for (int k = 0; k < n; k++) {
            float[] one = new float[rows];
            MatMul.matmul(Arrays.copyOfRange(x, k * cols, (k + 1) * cols), 1, q, 1f, one); // streamed dot, int8 input
            for (int o = 0; o < rows; o++) {
                assertEquals(q.dot(o, x, k * cols), one[o], 0f);
                if (k < 3) assertEquals(one[o], few[k * rows + o], 0f, "the batch's rows are quantized one by one");
                assertEquals(tiled[k * rows + o], one[o], inputRounding(x, k * cols, deq, o * cols, cols) + 1e-5);
            }
        }
    }

    /**
     * The int8 dot product against a float64 reference over the same quants: random blocks, blocks of zeros (scale
     * 0) and blocks of equal magnitude (every quant ±127, the largest products the int16 lanes hold), in rows of
     * several blocks; the quantized input x̂ = d · q comes from the dequantized weights' own quantizer, so the
     * reference is {@code Σ x̂ · ŵ} and only float32 rounding of the block scales separates the two.
     */
    @ParameterizedTest
    @EnumSource(QuantizedWeights.Format.class)
    void int8DotMatchesTheFloatDotOfTheSameQuants(QuantizedWeights.Format format) {
        int rows = 12, cols = 7 * 32;
        SplittableRandom r = new SplittableRandom(21);
        float[] w = new float[rows * cols];
        for (int i = 0; i < w.length; i++) {
            int block = i / 32;
            w[i] = switch (block % 4) {
                case 0 -> 0f;
                case 1 -> block % 8 == 1 ? 0.5f : -0.5f;
                default -> (float) r.nextGaussian();
            };
        }
        QuantizedWeights q = QuantizedWeights.quantize(new FloatWeights("w", w, rows, cols), format);
        float[] deq = new float[rows * cols];
        q.widen(0, rows, deq);
        float[] x = new float[2 * cols];
        for (int i = 0; i < x.length; i++) {
            int block = i / 32;
            x[i] = switch (block % 3) {
                case 0 -> (float) (r.nextGaussian() * 3);
                case 1 -> block % 2 == 0 ? -2f : 2f;
                default -> 0f;
            };
        }
        QuantizedWeights.Int8Rows xq = q.quantizeInput(x, 0, 2, false);
        for (int i = 0; i < x.length; i++) {
            assertTrue(Math.abs(xq.q()[i]) <= 127);
            if (Math.abs(x[i]) == 2f) assertEquals(127, Math.abs(xq.q()[i]), "a block of ±2 quantizes to ±127");
        }
        WeightMatrix.RowDots dots = q.rowDots(x, 2);
        for (int k = 0; k < 2; k++) {
            for (int o = 0; o < rows; o++) {
                double exact = 0, magnitude = 0;
                for (int i = 0; i < cols; i++) {
                    double v = (double) deq[o * cols + i] * xq.d()[(k * cols + i) / 32] * xq.q()[k * cols + i];
                    exact += v;
                    magnitude += Math.abs(v);
                }
                assertEquals(exact, dots.dot(o, k), 1e-6 * magnitude, format + " row " + o + " input " + k);
            }
        }
    }

    /**
     * The native Q8_0 and Q4_0 kernels (AVX2 maddubs/madd) take the same integer block sums as the Vector API kernels:
     * only the float32 order of the block terms differs, so the two agree to float32 rounding, for 1–3 input rows,
     * with the scale and the accumulate flag of the matmul.
     */
    @ParameterizedTest
    @EnumSource(QuantizedWeights.Format.class)
    void nativeKernelAgreesWithTheVectorApiKernel(QuantizedWeights.Format format) {
        Requirements.assumeNative();
        int rows = 37, cols = 320;
        SplittableRandom r = new SplittableRandom(11);
        float[] w = new float[rows * cols];
        for (int i = 0; i < w.length; i++) w[i] = (float) r.nextGaussian();
        QuantizedWeights q = QuantizedWeights.quantize(new FloatWeights("w", w, rows, cols), format);
        for (int n = 1; n <= 3; n++) {
            float[] x = new float[n * cols];
            for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
            float[] viaJava = new float[n * rows], viaNative = new float[n * rows];
            Arrays.fill(viaJava, 0.5f);
            Arrays.fill(viaNative, 0.5f);
            q.rowDots(x, n, false).dots(0, rows, n, 0.25f, viaJava, rows, true);
            q.rowDots(x, n, true).dots(3, rows, n, 0.25f, viaNative, rows, true);
            q.rowDots(x, n, true).dots(0, 3, n, 0.25f, viaNative, rows, true);
            for (int i = 0; i < viaJava.length; i++) {
                assertEquals(viaJava[i], viaNative[i], 1e-5f * (1 + Math.abs(viaJava[i])), n + " rows, output " + i);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(QuantizedWeights.Format.class)
    void nativeKernelRefusesArgumentsThatDoNotFit(QuantizedWeights.Format format) {
        Requirements.assumeNative();
        QuantizedWeights q = QuantizedWeights.quantize(new FloatWeights("w", new float[4 * 64], 4, 64), format);
        float[] x = new float[64];
        WeightMatrix.RowDots dots = q.rowDots(x, 1, true);
        assertThrows(IllegalArgumentException.class, () -> dots.dots(0, 5, 1, 1f, new float[5], 5, false), "a fifth row");
        assertThrows(IllegalArgumentException.class, () -> dots.dots(0, 4, 1, 1f, new float[3], 4, false), "short output");
    }

    /** Σ x · w in float64 */
    private static double floatDot(float[] x, int xOff, float[] w, int wOff, int n) {
        double s = 0;
        for (int i = 0; i < n; i++) s += (double) x[xOff + i] * w[wOff + i];
        return s;
    }

    /** The most that quantizing x to Q8_0 (each value within half a step, d / 2) moves Σ x · w. */
    private static double inputRounding(float[] x, int xOff, float[] w, int wOff, int n) {
        double bound = 0;
        for (int b = 0; b < n; b += 32) {
            float amax = 0;
            for (int i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(x[xOff + b + i]));
            for (int i = 0; i < 32; i++) bound += Math.abs(w[wOff + b + i]) * amax / 127 / 2;
        }
        return bound * 1.001 + 1e-6;
    }
}
