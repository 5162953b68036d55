package dev.nemoh.cuda;

import dev.nemoh.tensor.DType;
import dev.nemoh.tensor.Numerics;
import dev.nemoh.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * What the GPU training path computes with: the device (driver, kernels, cuBLAS, scratch buffers), the precision,
 * and the row-major products every trainable layer needs. Activations are float32 [rows, width]; in bf16 precision
 * the operands of a product are rounded to bf16 scratch copies first.
 */
final class CudaTraining {
    static final int THREADS = 256;

    final CudaDevice device;
    final Cuda cuda;
    final CudaKernels k;
    final TrainingPrecision precision;

    CudaTraining(CudaDevice device, TrainingPrecision precision) {
        this.device = device;
        this.cuda = device.cuda;
        this.k = device.kernels;
        this.precision = precision;
    }

    /**
     * A frozen matrix or vector of the checkpoint on the device: bf16 as stored or rounded ({@code bf16}), else
     * widened to float32, a block of elements at a time.
     */
    long upload(Tensor t, boolean bf16) {
        long n = t.numel();
        long p = cuda.alloc(GpuMemory.Part.WEIGHTS, (bf16 ? 2L : 4L) * n);
        if (bf16 && t.dtype() == DType.BF16) {
            cuda.upload(p, t.data(), 2L * n);
            return p;
        }
        int block = 1 << 22;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment host = a.allocate((bf16 ? 2L : 4L) * Math.min(n, block), 4);
            for (long i0 = 0; i0 < n; i0 += block) {
                int m = (int) Math.min(block, n - i0);
                for (int i = 0; i < m; i++) {
                    float v = t.getFloat(i0 + i);
                    if (bf16) host.setAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, i, Numerics.floatToBf16(v));
                    else host.setAtIndex(ValueLayout.JAVA_FLOAT, i, v);
                }
                cuda.upload(p + (bf16 ? 2L : 4L) * i0, host, (bf16 ? 2L : 4L) * m);
            }
        }
        return p;
    }

    /** A float32 copy of a small checkpoint tensor (norms, conv, time-step and SSM parameters) on the device. */
    long uploadFloats(float[] values) {
        long p = cuda.alloc(GpuMemory.Part.WEIGHTS, 4L * Math.max(1, values.length));
        cuda.upload(p, values);
        return p;
    }

    /** A scratch buffer of {@code floats} float32 values under {@code name}. */
    long floats(String name, long floats) {
        return device.workspace.get(name, 4L * floats);
    }

    static int grid(long n) {
        return CudaKernels.gridFor(n, THREADS);
    }

    /** x as the products read it: itself in fp32, a bf16 copy (in scratch {@code name}) in bf16. */
    long operand(String name, long x, long n) {
        if (!precision.bf16()) return x;
        long b = device.workspace.get(name, 2L * n);
        k.toBf16(grid(n), THREADS, x, b, n);
        return b;
    }

    /**
     * {@code y[rows, out] (+)= x[rows, in] · W[out, in]ᵀ}; w is the weight in the precision's operand type (bf16 in
     * bf16 precision, float32 otherwise).
     */
    void linear(long w, long x, long y, int rows, int out, int in, boolean accumulate) {
        long xo = operand("train.x", x, (long) rows * in);
        device.blas.gemm(true, false, out, rows, in, 1f, w, precision.bf16(), in, xo, precision.bf16(), in,
                accumulate ? 1f : 0f, y, out);
    }

    /** {@code dx[rows, in] (+)= dy[rows, out] · W[out, in]}. */
    void linearInputGrad(long w, long dy, long dx, int rows, int out, int in, boolean accumulate) {
        long dyo = operand("train.dy", dy, (long) rows * out);
        device.blas.gemm(false, false, in, rows, out, 1f, w, precision.bf16(), in, dyo, precision.bf16(), out,
                accumulate ? 1f : 0f, dx, in);
    }

    /** {@code dW[out, in] += dy[rows, out]ᵀ · x[rows, in]} into a float32 gradient. */
    void linearWeightGrad(long dy, long x, long dW, int rows, int out, int in) {
        long xo = operand("train.x", x, (long) rows * in);
        long dyo = operand("train.dy", dy, (long) rows * out);
        device.blas.gemm(false, true, in, out, rows, 1f, xo, precision.bf16(), in, dyo, precision.bf16(), out, 1f, dW, in);
    }

    /**
     * Row-major {@code C[M, N] = alpha · op(A)[M, K] · op(B)[K, N] + beta · C}, {@code batch} times with the given
     * element strides (0 shares an operand): cuBLAS's column-major product of the transposes. Pointers are device
     * addresses; A and B are bf16 when {@code bf16}, C float32.
     */
    void rowGemm(boolean transA, boolean transB, int m, int n, int k, float alpha, long a, int lda, long strideA, long b,
                 int ldb, long strideB, boolean bf16, float beta, long c, int ldc, long strideC, int batch) {
        device.blas.gemmStridedBatched(transB, transA, n, m, k, alpha, b, bf16, ldb, strideB, a, bf16, lda, strideA, beta,
                c, ldc, strideC, batch);
    }

    /**
     * The same three products with float32 operands whatever the precision: the small adapter matrices. In bf16 mode
     * they run on TF32 tensor cores (more mantissa than the bf16 products around them); in fp32 mode in full float32.
     */
    void linearF32(long w, long x, long y, int rows, int out, int in, boolean accumulate) {
        linearF32(1f, w, x, y, rows, out, in, accumulate);
    }

    /** {@code y (+)= alpha · x · Wᵀ} in float32. */
    void linearF32(float alpha, long w, long x, long y, int rows, int out, int in, boolean accumulate) {
        gemmF32(true, false, out, rows, in, alpha, w, in, x, in, accumulate ? 1f : 0f, y, out);
    }

    void linearInputGradF32(long w, long dy, long dx, int rows, int out, int in, boolean accumulate) {
        linearInputGradF32(1f, w, dy, dx, rows, out, in, accumulate);
    }

    /** {@code dx (+)= alpha · dy · W} in float32. */
    void linearInputGradF32(float alpha, long w, long dy, long dx, int rows, int out, int in, boolean accumulate) {
        gemmF32(false, false, in, rows, out, alpha, w, in, dy, out, accumulate ? 1f : 0f, dx, in);
    }

    void linearWeightGradF32(long dy, long x, long dW, int rows, int out, int in) {
        linearWeightGradF32(1f, dy, x, dW, rows, out, in);
    }

    /** {@code dW += alpha · dyᵀ · x} in float32. */
    void linearWeightGradF32(float alpha, long dy, long x, long dW, int rows, int out, int in) {
        gemmF32(false, true, in, out, rows, alpha, x, in, dy, out, 1f, dW, in);
    }

    private void gemmF32(boolean transA, boolean transB, int m, int n, int k, float alpha, long a, int lda, long b,
                         int ldb, float beta, long c, int ldc) {
        if (precision.bf16()) device.blas.gemmF32(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        else device.blas.gemm(transA, transB, m, n, k, alpha, a, false, lda, b, false, ldb, beta, c, ldc);
    }

    /** {@code out[c] += Σ_r x[r, c]} over rows [rows, cols] in a fixed order (two passes when there are many rows). */
    void addColumnSums(long x, int rows, int cols, long out) {
        int blocks = (cols + THREADS - 1) / THREADS;
        int perPart = 256;
        if (rows <= 2 * perPart) {
            k.columnSums(blocks, 1, THREADS, x, rows, cols, cols, rows, out, 1);
            return;
        }
        int parts = (rows + perPart - 1) / perPart;
        long partial = floats("train.columnSums", (long) parts * cols);
        k.columnSums(blocks, parts, THREADS, x, rows, cols, cols, perPart, partial, 0);
        k.columnSums(blocks, 1, THREADS, partial, parts, cols, cols, parts, out, 1);
    }

    /** y (+)= alpha · x over n floats. */
    void axpy(float alpha, long x, long y, long n, boolean accumulate) {
        k.axpy(grid(n), 1, THREADS, alpha, x, y, n, accumulate ? 1 : 0);
    }

    /** Σ x² over n floats, summed in double on the host from per-block partial sums (fixed order). */
    double sumSquares(long x, long n) {
        int blocks = (int) Math.min(1024, Math.max(1, (n + THREADS - 1) / THREADS));
        long partial = floats("train.sumSquares", blocks);
        k.sumSquares(blocks, 1, THREADS, x, n, partial);
        double s = 0;
        for (float v : cuda.downloadFloats(partial, blocks)) s += v;
        return s;
    }
}
