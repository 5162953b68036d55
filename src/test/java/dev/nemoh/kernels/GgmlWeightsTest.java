package dev.nemoh.kernels;

import dev.nemoh.tensor.DType;
import dev.nemoh.tensor.Tensor;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Each GGUF weight type's products against the dequantize-then-float32 dot: with the input rounded as GGML rounds
 * it, the product of the Vector API kernel equals the double-precision sum of dequantized weights times rounded
 * inputs to float32 round-off; against the unrounded input it is off only by the input's rounding (measured values
 * and bounds: README, "GGUF files"). Prompts (many rows, {@link MatMul}) give the same products as one row at a time.
 */
class GgmlWeightsTest {
    static final int ROWS = 5, COLS = 512;

    /** Random bytes of a [ROWS, COLS] matrix of {@code type}, with sane float16 scales and float values. */
    static Tensor random(DType type, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        long bytes = type.byteSize((long) ROWS * COLS);
        ByteBuffer b = ByteBuffer.allocate((int) bytes).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < bytes; i++) b.put(i, (byte) r.nextInt(256));
        if (type == DType.F16 || type == DType.BF16) {
            for (int i = 0; i < ROWS * COLS; i++) {
                float v = (float) (r.nextGaussian() * 0.05);
                b.putShort(2 * i, type == DType.F16 ? Float.floatToFloat16(v) : dev.nemoh.tensor.Numerics.floatToBf16(v));
            }
        }
        for (long blk = 0; type.isBlock() && blk < bytes / type.blockBytes; blk++) {
            int pos = (int) (blk * type.blockBytes);
            switch (type) {
                case Q8_0, Q4_0 -> b.putShort(pos, Float.floatToFloat16((float) (r.nextDouble() * 0.02 - 0.01)));
                case Q4_K, Q5_K -> {
                    b.putShort(pos, Float.floatToFloat16((float) (r.nextDouble() * 0.004)));
                    b.putShort(pos + 2, Float.floatToFloat16((float) (r.nextDouble() * 0.004)));
                }
                case Q6_K -> b.putShort(pos + 208, Float.floatToFloat16((float) (r.nextDouble() * 0.001 - 0.0005)));
                default -> throw new IllegalStateException();
            }
        }
        return new Tensor("w", type, new long[] {ROWS, COLS}, MemorySegment.ofArray(b.array()));
    }

    static float[] input(int rows, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] x = new float[rows * COLS];
        for (int i = 0; i < x.length; i++) x[i] = (float) (r.nextGaussian() * (i % 61 == 0 ? 4 : 1));
        return x;
    }

    /** The input as the kernel sees it after GGML's rounding, as float32 values. */
    static float[] rounded(GgmlWeights w, float[] x, int rows) {
        GgmlWeights.Input in = w.round(x, 0, rows);
        if (in.f() != null) return in.f();
        int block = in.q().length / in.d().length;
        float[] v = new float[in.q().length];
        for (int i = 0; i < v.length; i++) v[i] = in.q()[i] * in.d()[i / block];
        return v;
    }

    static double dot(float[] w, int wOff, float[] x, int xOff) {
        double s = 0;
        for (int i = 0; i < COLS; i++) s += (double) w[wOff + i] * x[xOff + i];
        return s;
    }

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"F16", "BF16", "Q8_0", "Q4_0", "Q4_K", "Q5_K", "Q6_K"})
    void productsEqualTheDequantizedDot(DType type) {
        GgmlWeights w = new GgmlWeights(random(type, 11));
        float[] deq = new float[ROWS * COLS];
        w.widen(0, ROWS, deq);
        int n = 3;
        float[] x = input(n, 13);
        float[] xr = rounded(w, x, n);
        WeightMatrix.RowDots dots = w.rowDots(x, n);
        double worstExact = 0, worstInput = 0;
        for (int row = 0; row < ROWS; row++) {
            for (int r = 0; r < n; r++) {
                double exact = dot(deq, row * COLS, xr, r * COLS);
                double plain = dot(deq, row * COLS, x, r * COLS);
                double scaleOf = Math.sqrt(dot(deq, row * COLS, deq, row * COLS) * dot(x, r * COLS, x, r * COLS));
                float got = dots.dot(row, r);
                worstExact = Math.max(worstExact, Math.abs(got - exact) / scaleOf);
                worstInput = Math.max(worstInput, Math.abs(got - plain) / scaleOf);
                if (r == 0) assertEquals(got, w.dot(row, x, 0), type + ": dot and rowDots agree");
            }
        }
        assertTrue(worstExact < 1e-7, type + ": kernel vs dequantized dot with the rounded input, relative " + worstExact);
        assertTrue(worstInput < 1e-2, type + ": kernel vs dequantized dot with the float input, relative " + worstInput);
    }

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"F16", "Q8_0", "Q4_K", "Q6_K"})
    void aPromptGetsTheProductsOfItsRows(DType type) {
        GgmlWeights w = new GgmlWeights(random(type, 17));
        int n = 9;
        float[] x = input(n, 19);
        float[] y = MatMul.matmul(x, n, w);
        for (int r = 0; r < n; r++) {
            float[] one = MatMul.matmul(java.util.Arrays.copyOfRange(x, r * COLS, (r + 1) * COLS), 1, w);
            for (int o = 0; o < ROWS; o++) assertEquals(one[o], y[r * ROWS + o], type + " row " + r + " output " + o);
        }
    }
}
