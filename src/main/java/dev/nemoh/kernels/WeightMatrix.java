package dev.nemoh.kernels;

/** A weight matrix W [rows = out, cols = in] in some storage format, as the matmul reads it. */
public sealed interface WeightMatrix permits DenseWeights, QuantizedWeights, FloatWeights {
    String name();

    int rows();

    int cols();

    /** Bytes the matrix occupies, which a decode step reads once. */
    long bytes();

    /** {@code Σ_i x[xOff + i] · W[row, i]} */
    float dot(int row, float[] x, int xOff);

    /** Writes rows [first, first + n) as float32 into dst. */
    void widen(int first, int n, float[] dst);
}
