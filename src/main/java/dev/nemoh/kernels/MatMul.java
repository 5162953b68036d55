package dev.nemoh.kernels;

/**
 * {@code y[r, o] = scale · Σ_i x[r, i] · W[o, i]} for a weight matrix W [out, in], as torch's {@code F.linear}.
 * A few rows (decode) stream the weights in their storage format through {@link WeightMatrix#rowDots}: the step is
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
    /** Columns of W per task of the input gradient: 32 bf16 are one 64-byte line of each row. */
    private static final int COL_BLOCK = 32;

    public static void matmul(float[] x, int rows, WeightMatrix w, float scale, float[] y) {
        matmul(x, rows, w, scale, y, false);
    }

    /** As {@link #matmul(float[], int, WeightMatrix, float, float[])}; with {@code add}, {@code y +=} instead of {@code y =}. */
    static void matmul(float[] x, int rows, WeightMatrix w, float scale, float[] y, boolean add) {
        int in = w.cols(), out = w.rows();
        if (x.length < rows * in || y.length < rows * out) {
            throw new IllegalArgumentException(w.name() + ": input of " + x.length + " / output of " + y.length
                    + " floats does not fit " + rows + " rows of [" + out + ", " + in + "]");
        }
        int blocks = (out + OUT_BLOCK - 1) / OUT_BLOCK;
        if (rows < TILE_MIN_ROWS || w.roundsInput()) {
            WeightMatrix.RowDots dots = w.rowDots(x, rows);
            Parallel.forEach(blocks, (long) OUT_BLOCK * in * rows,
                    b -> dots.dots(b * OUT_BLOCK, Math.min(out, (b + 1) * OUT_BLOCK), rows, scale, y, out, add));
            return;
        }
        Parallel.forEach(blocks, (long) OUT_BLOCK * in * rows, b -> {
            int o0 = b * OUT_BLOCK;
            int n = Math.min(out, o0 + OUT_BLOCK) - o0;
            float[] wb = new float[n * in];
            w.widen(o0, n, wb);
            tiles(x, rows, in, wb, n, y, out, o0, scale, add);
        });
    }

    /** {@code y[:, yCol .. yCol + n) (+)= scale · x wbᵀ} for x [rows, in] and a float32 block wb [n, in]. */
    private static void tiles(float[] x, int rows, int in, float[] wb, int n, float[] y, int out, int yCol, float scale,
                              boolean add) {
        boolean nativeTile = NativeKernels.sameBitsAvailable();
        for (int r0 = 0; r0 < rows; r0 += X_BLOCK) {
            int r1 = Math.min(rows, r0 + X_BLOCK);
            if (nativeTile) {
                // one call per block of input rows: short calls, as critical downcalls must be
                NativeKernels.f32Tiles(x, r0, r1 - r0, in, wb, n, y, r0 * out + yCol, out, scale, add);
                continue;
            }
            for (int o = 0; o < n; o += 2) {
                int pair = Math.min(2, n - o);
                for (int r = r0; r < r1; r += ROW_BLOCK) {
                    Tile.run(x, r, Math.min(ROW_BLOCK, r1 - r), in, wb, o, pair, y, out, yCol + o, scale, add);
                }
            }
        }
    }

    /** {@code x Wᵀ} for any stored W, into a new array [rows, out]. */
    public static float[] matmul(float[] x, int rows, WeightMatrix w) {
        float[] y = new float[rows * w.rows()];
        matmul(x, rows, w, 1f, y);
        return y;
    }

    /** {@code x Wᵀ} for a float32 W [out, in] held in an array. */
    public static float[] matmul(float[] x, int rows, float[] w, int out, int in) {
        return matmul(x, rows, new FloatWeights("W", w, out, in));
    }

    /**
     * The input gradient of {@code y = x Wᵀ}: {@code dx += dy W} for dy [rows, out], W [out, in] in its stored format
     * (bf16 read in place, no float32 copy of W). Each task widens a block of W's columns, transposed, to float32
     * once (reading its slice of every row), then runs the prefill's register tile over the rows of dy.
     */
    public static void matmulInputGrad(float[] dy, int rows, WeightMatrix w, float[] dx) {
        int out = w.rows(), in = w.cols();
        if (dy.length < rows * out || dx.length < rows * in) {
            throw new IllegalArgumentException(w.name() + ": gradient of " + dy.length + " / input gradient of "
                    + dx.length + " floats does not fit " + rows + " rows of [" + out + ", " + in + "]");
        }
        int blocks = (in + COL_BLOCK - 1) / COL_BLOCK;
        Parallel.forEach(blocks, (long) COL_BLOCK * out * rows, b -> {
            int c0 = b * COL_BLOCK;
            int n = Math.min(in, c0 + COL_BLOCK) - c0;
            float[] wt = new float[n * out];
            w.widenColumns(c0, n, wt);
            tiles(dy, rows, out, wt, n, dx, in, c0, 1f, true);
        });
    }

    /**
     * Gradients of {@code y = x Wᵀ}: {@code dx += dy W} (W as stored) and {@code dW += dyᵀ x} (float32 [out, in]),
     * either may be null. dW accumulates in place: nothing of W's size is allocated.
     */
    public static void matmulBackward(float[] dy, float[] x, int rows, WeightMatrix w, float[] dx, float[] dw) {
        if (dx != null) matmulInputGrad(dy, rows, w, dx);
        if (dw != null) {
            int out = w.rows(), in = w.cols();
            matmul(transpose(dy, rows, out), out, new FloatWeights("dW", transpose(x, rows, in), in, rows), 1f, dw, true);
        }
    }

    /** As {@link #matmulBackward(float[], float[], int, WeightMatrix, float[], float[])} for a float32 W in an array. */
    public static void matmulBackward(float[] dy, float[] x, int rows, float[] w, int out, int in, float[] dx,
                                      float[] dw) {
        matmulBackward(dy, x, rows, new FloatWeights("W", w, out, in), dx, dw);
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
