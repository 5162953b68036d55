package dev.nemoh.cuda;

import dev.nemoh.kernels.DenseWeights;
import dev.nemoh.model.Linear;
import dev.nemoh.tensor.DType;
import dev.nemoh.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A linear layer on the GPU with bf16 weights [out, in]. Up to {@link #GEMV_MAX_ROWS} rows (decoding one or two
 * sequences) run through our GEMV kernel, which reads float32 activations and streams the weights once; more rows
 * (prefill, larger decode batches) go to cuBLAS with the activations rounded to bf16, float32 accumulation and
 * output. Several checkpoint linears that read the same input (q, k, v) can be stacked into one, so one pass reads
 * them all.
 */
final class CudaLinear {
    /**
     * Rows up to which our GEMV beats cuBLAS: at 2 rows the two are level, and from 4 on cuBLAS is faster, since each
     * further row re-reads its float32 activations per weight from L1 (batched decode on the 8B shape,
     * docs/PERFORMANCE.md).
     */
    static final int GEMV_MAX_ROWS = 2;
    /** The block of the GEMV and of the kernels built on it (gemv.cu, moe.cu): one warp per output row. */
    static final int GEMV_THREADS = 256;
    /** Resident warps an SM holds at most (compute capability 8.0 and later). */
    private static final int MAX_WARPS_PER_SM = 64;

    final int out, in;
    private final long weight;
    private final long bias;

    private CudaLinear(int out, int in, long weight, long bias) {
        this.out = out;
        this.in = in;
        this.weight = weight;
        this.bias = bias;
    }

    /** Uploads the rows of {@code parts} stacked in order; all must have the same input width. */
    static CudaLinear upload(Cuda cuda, Linear... parts) {
        int in = parts[0].in, out = 0;
        boolean anyBias = false;
        for (Linear p : parts) {
            if (p.in != in) throw new IllegalArgumentException("stacked linears differ in input width");
            out += p.out;
            anyBias |= p.bias != null;
        }
        long weight = cuda.alloc(GpuMemory.Part.WEIGHTS, 2L * out * in);
        long at = weight;
        float[] biases = new float[out];
        int row = 0;
        for (Linear p : parts) {
            uploadBf16(cuda, p, at);
            at += 2L * p.out * in;
            if (p.bias != null) System.arraycopy(p.bias, 0, biases, row, p.out);
            row += p.out;
        }
        long bias = 0;
        if (anyBias) {
            bias = cuda.alloc(GpuMemory.Part.WEIGHTS, 4L * out);
            cuda.upload(bias, biases);
        }
        return new CudaLinear(out, in, weight, bias);
    }

    /** bf16 weights go up as mapped; other precisions are widened, scaled and rounded to bf16 a block of rows at a time. */
    private static void uploadBf16(Cuda cuda, Linear p, long dst) {
        if (!(p.weight instanceof DenseWeights dense)) {
            throw new CudaException(p.name + " is quantized (" + p.weight.getClass().getSimpleName()
                    + "); the cuda backend takes the checkpoint's weights: use --weights as-stored");
        }
        Tensor t = dense.tensor();
        long bytes = 2L * p.out * p.in;
        if (t.dtype() == DType.BF16 && p.scale == 1f) {
            cuda.upload(dst, t.data(), bytes);
            return;
        }
        int rowsPerBlock = Math.max(1, (1 << 22) / p.in);
        float[] rows = new float[rowsPerBlock * p.in];
        try (Arena a = Arena.ofConfined()) {
            MemorySegment host = a.allocate(2L * rows.length, 2);
            for (int r0 = 0; r0 < p.out; r0 += rowsPerBlock) {
                int n = Math.min(rowsPerBlock, p.out - r0);
                dense.widen(r0, n, rows);
                for (int i = 0; i < n * p.in; i++) {
                    host.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i, dev.nemoh.tensor.Numerics.floatToBf16(rows[i] * p.scale));
                }
                cuda.upload(dst + 2L * r0 * p.in, host, 2L * n * p.in);
            }
        }
    }

    /** Device address of the bf16 weights [out, in]. */
    long weight() {
        return weight;
    }

    /** Device address of the float32 bias [out], or 0 without one. */
    long bias() {
        return bias;
    }

    long bytes() {
        return 2L * out * in;
    }

    /**
     * Rows [first, first + count) of this layer as a layer of their own, sharing its memory (one expert of a stacked
     * set): free only the whole.
     */
    CudaLinear rows(int first, int count) {
        return new CudaLinear(count, in, weight + 2L * first * in, bias == 0 ? 0 : bias + 4L * first);
    }

    /**
     * {@code y[rows, out] (+)= x[rows, in] · Wᵀ + bias}, then relu² when {@code reluSquared}; x and y are float32
     * device buffers.
     */
    void forward(CudaDevice d, long x, int rows, long y, boolean accumulate, boolean reluSquared) {
        if (rows <= GEMV_MAX_ROWS) {
            // the instance gemv_bf16_R for R = rows, the smallest bound on the rows that holds them
            int warps = gemvWarps(out, d.cuda.multiprocessors);
            d.kernels.gemvBf16(rows, (out + warps - 1) / warps, 32 * warps, weight, x, y, bias, out, in, rows,
                    accumulate ? 1 : 0, reluSquared ? 1 : 0);
            return;
        }
        long xb = d.workspace.get("linear.x.bf16", 2L * rows * in);
        long n = (long) rows * in;
        d.kernels.toBf16(CudaKernels.gridFor(n, 256), 256, x, xb, n);
        d.blas.linear(weight, xb, y, rows, out, in, accumulate);
        if (bias != 0 || reluSquared) {
            long m = (long) rows * out;
            d.kernels.biasAct(CudaKernels.gridFor(m, 256), 256, y, bias, rows, out, reluSquared ? 1 : 0);
        }
    }

    /**
     * Warps a block of the dense GEMV (one warp per output row): 8, unless every row's warp is resident at once (one
     * wave) and smaller blocks spread them more evenly over the SMs, whose most loaded one sets the kernel's time.
     */
    static int gemvWarps(int outputs, int multiprocessors) {
        int best = GEMV_THREADS / 32;
        if (outputs > MAX_WARPS_PER_SM * multiprocessors) return best;
        double bestBalance = balance(outputs, best, multiprocessors);
        for (int warps = best / 2; warps >= 2; warps /= 2) {
            double b = balance(outputs, warps, multiprocessors);
            if (b > bestBalance + 0.01) {
                best = warps;
                bestBalance = b;
            }
        }
        return best;
    }

    /** The mean over the most blocks per SM, for {@code outputs} rows in blocks of {@code warps} rows. */
    private static double balance(int outputs, int warps, int multiprocessors) {
        int blocks = (outputs + warps - 1) / warps;
        return blocks / (double) (((blocks + multiprocessors - 1) / multiprocessors) * multiprocessors);
    }

    /** Blocks of {@link #GEMV_THREADS} a GEMV-based kernel needs for {@code outputs} output rows. */
    static int gemvBlocks(int outputs) {
        int rowsPerBlock = GEMV_THREADS / 32;
        return (outputs + rowsPerBlock - 1) / rowsPerBlock;
    }

    void free(Cuda cuda) {
        cuda.free(weight);
        cuda.free(bias);
    }
}
