package dev.nemoh.kernels;

/**
 * A float32 weight matrix in a heap array, read live: training updates {@code values} in place and the next matmul
 * sees the new weights.
 */
public record FloatWeights(String name, float[] values, int rows, int cols) implements WeightMatrix {
    public FloatWeights {
        if ((long) rows * cols != values.length) {
            throw new IllegalArgumentException(name + ": " + values.length + " values do not fill [" + rows + ", "
                    + cols + "]");
        }
    }

    @Override
    public long bytes() {
        return 4L * values.length;
    }

    @Override
    public float dot(int row, float[] x, int xOff) {
        return Vec.dot(values, row * cols, x, xOff, cols);
    }

    @Override
    public void widen(int first, int n, float[] dst) {
        System.arraycopy(values, first * cols, dst, 0, n * cols);
    }

    @Override
    public void widen(int row, int first, int n, float[] dst, int dstOff) {
        System.arraycopy(values, row * cols + first, dst, dstOff, n);
    }
}
