package dev.nemoh.kernels;

/**
 * {@code y[r, o] = scale · Σ_i x[r, i] · W[o, i]} for a weight matrix W [out, in], as torch's {@code F.linear}.
 * A few rows (decode) stream the weights in their storage format through {@link WeightMatrix#dot}: the step is
 * bound by memory bandwidth, so each weight byte is read once and widened in registers. Many rows (prefill) are
 * compute bound: each task widens a block of weight rows to float32 once, then runs a 4×2 register tile (four
 * input rows against two weight rows) over blocks of input rows small enough to stay in L2.
 */
public final class MatMul {
    private MatMul() {}

    private static final int ROW_BLOCK = 4;
    /** Output rows handled by one task: enough work per task, enough tasks per core. */
    private static final int OUT_BLOCK = 16;
    /** From this many rows on, widening a weight block once beats streaming it once per row. */
    private static final int TILE_MIN_ROWS = 4;
    /** Input rows per L2 block: 16 rows of 4096 floats are 256 KiB. */
    private static final int X_BLOCK = 16;

    public static void matmul(float[] x, int rows, WeightMatrix w, float scale, float[] y) {
        int in = w.cols(), out = w.rows();
        if (x.length < rows * in || y.length < rows * out) {
            throw new IllegalArgumentException(w.name() + ": input of " + x.length + " / output of " + y.length
                    + " floats does not fit " + rows + " rows of [" + out + ", " + in + "]");
        }
        int blocks = (out + OUT_BLOCK - 1) / OUT_BLOCK;
        if (rows < TILE_MIN_ROWS) {
            Parallel.forEach(blocks, (long) OUT_BLOCK * in * rows, b -> {
                int o1 = Math.min(out, (b + 1) * OUT_BLOCK);
                for (int o = b * OUT_BLOCK; o < o1; o++) {
                    for (int r = 0; r < rows; r++) y[r * out + o] = scale * w.dot(o, x, r * in);
                }
            });
            return;
        }
        Parallel.forEach(blocks, (long) OUT_BLOCK * in * rows, b -> {
            int o0 = b * OUT_BLOCK;
            int n = Math.min(out, o0 + OUT_BLOCK) - o0;
            float[] wb = new float[n * in];
            w.widen(o0, n, wb);
            for (int r0 = 0; r0 < rows; r0 += X_BLOCK) {
                int r1 = Math.min(rows, r0 + X_BLOCK);
                for (int o = 0; o < n; o += 2) {
                    int pair = Math.min(2, n - o);
                    for (int r = r0; r < r1; r += ROW_BLOCK) {
                        Tile.run(x, r, Math.min(ROW_BLOCK, r1 - r), in, wb, o, pair, y, out, o0 + o, scale);
                    }
                }
            }
        });
    }

    /** {@code x Wᵀ} for a float32 W [out, in] held in an array. */
    public static float[] matmul(float[] x, int rows, float[] w, int out, int in) {
        float[] y = new float[rows * out];
        matmul(x, rows, new FloatWeights("W", w, out, in), 1f, y);
        return y;
    }

    /**
     * Gradients of {@code y = x Wᵀ} for W [out, in]: {@code dx += dy W} and {@code dW += dyᵀ x}, either may be null.
     * Both run through the tiled matmul on transposed copies, which cost O(size) against its O(rows · size).
     */
    public static void matmulBackward(float[] dy, float[] x, int rows, float[] w, int out, int in, float[] dx,
                                      float[] dw) {
        if (dx != null) Vec.add(dx, matmul(dy, rows, transpose(w, out, in), in, out), rows * in);
        if (dw != null) Vec.add(dw, matmul(transpose(dy, rows, out), out, transpose(x, rows, in), in, rows), out * in);
    }

    /** [rows, cols] → [cols, rows] */
    public static float[] transpose(float[] a, int rows, int cols) {
        float[] t = new float[rows * cols];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) t[c * rows + r] = a[r * cols + c];
        }
        return t;
    }
}
