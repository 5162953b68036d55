package dev.nemoh.kernels;

/** A weight matrix W [rows = out, cols = in] in some storage format, as the matmul reads it. */
public sealed interface WeightMatrix permits DenseWeights, QuantizedWeights, FloatWeights, GgmlWeights {
    String name();

    int rows();

    int cols();

    /** Bytes the matrix occupies, which a decode step reads once. */
    long bytes();

    /**
     * Whether the format's products round the input first (as GGML's do): then every matmul, of a prompt as of a
     * decode step, goes through {@link #rowDots}, so that a prompt computes what llama.cpp computes on it.
     */
    default boolean roundsInput() {
        return false;
    }

    /** {@code Σ_i x[xOff + i] · W[row, i]} */
    float dot(int row, float[] x, int xOff);

    /** {@code dot(row, r) = Σ_i x[r, i] · W[row, i]} over the rows of one input x. */
    @FunctionalInterface
    interface RowDots {
        float dot(int row, int r);

        /** {@code y[r · out + o] (+)= scale · dot(o, r)} for weight rows o in [o0, o1) and every input row r. */
        default void dots(int o0, int o1, int rows, float scale, float[] y, int out, boolean add) {
            for (int o = o0; o < o1; o++) {
                for (int r = 0; r < rows; r++) {
                    float v = scale * dot(o, r);
                    y[r * out + o] = add ? y[r * out + o] + v : v;
                }
            }
        }
    }

    /**
     * The dot products of every weight row with x [rows, cols], for a matmul that takes all of them: x is prepared
     * once (the quantized formats quantize it), not once per weight row.
     */
    default RowDots rowDots(float[] x, int rows) {
        int cols = cols();
        return (row, r) -> dot(row, x, r * cols);
    }

    /** Writes rows [first, first + n) as float32 into dst. */
    void widen(int first, int n, float[] dst);

    /** Writes {@code W[row, first .. first + n)} as float32 into dst from dstOff. */
    default void widen(int row, int first, int n, float[] dst, int dstOff) {
        float[] whole = new float[cols()];
        widen(row, 1, whole);
        System.arraycopy(whole, first, dst, dstOff, n);
    }

    /**
     * Writes columns [first, first + n) transposed, as float32: {@code dst[j · rows + o] = W[o, first + j]}. Reads
     * each row's slice where it is stored, so a column block costs one pass over the matrix's bytes of those columns.
     */
    default void widenColumns(int first, int n, float[] dst) {
        int rows = rows();
        float[] slice = new float[n];
        for (int o = 0; o < rows; o++) {
            widen(o, first, n, slice, 0);
            for (int j = 0; j < n; j++) dst[j * rows + o] = slice[j];
        }
    }
}
