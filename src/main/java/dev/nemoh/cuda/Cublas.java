package dev.nemoh.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * cuBLAS bound through {@code java.lang.foreign}, for the products that are matrix-bound: prefill linears (bf16
 * operands, float32 accumulation and output) and prefill attention (float32 operands on TF32 tensor cores).
 * Row-major callers describe their matrices column-major, so {@code y = x Wᵀ} for row-major x [rows, in] and
 * W [out, in] is the column-major {@code yᵀ = W xᵀ} with W transposed.
 */
public final class Cublas {
    private static final int OP_N = 0, OP_T = 1;
    private static final int R_32F = 0, R_16BF = 14;
    private static final int COMPUTE_32F = 68, COMPUTE_32F_FAST_TF32 = 77;
    private static final int GEMM_DEFAULT = -1;

    private final MethodHandle gemmEx, gemmStridedBatchedEx;
    private final MemorySegment handle;
    private final MemorySegment alpha, beta;
    /** The workspace cuBLAS's products use: NVIDIA's recommended size for Hopper. */
    private static final long WORKSPACE_BYTES = 32L << 20;
    private final long workspace;
    private final MethodHandle destroy;
    private final Cuda cuda;
    /** Times every product while set (bench --profile). */
    Profiler profiler;

    public Cublas(Cuda cuda) {
        this.cuda = cuda;
        NativeLibrary lib = NativeLibrary.load("cuBLAS, which the GPU backend uses for matrix products",
                "libcublas.so", "libcublas.so.13", "libcublas.so.12");
        MethodHandle create = lib.function("cublasCreate_v2", JAVA_INT, ADDRESS);
        gemmEx = lib.function("cublasGemmEx", JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT,
                ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT,
                JAVA_INT, JAVA_INT, JAVA_INT);
        gemmStridedBatchedEx = lib.function("cublasGemmStridedBatchedEx", JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT,
                JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_INT, JAVA_INT,
                JAVA_LONG, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT);
        Arena arena = Arena.ofAuto();
        MemorySegment h = arena.allocate(ADDRESS);
        check((int) Cuda.call(create, h), "cublasCreate");
        handle = h.get(ADDRESS, 0);
        destroy = lib.function("cublasDestroy_v2", JAVA_INT, ADDRESS);
        MethodHandle setStream = lib.function("cublasSetStream_v2", JAVA_INT, ADDRESS, ADDRESS);
        check((int) Cuda.call(setStream, handle, cuda.stream), "cublasSetStream");
        // cuBLAS's own workspace, allocated through the budget instead of by cuBLAS behind it
        MethodHandle setWorkspace = lib.function("cublasSetWorkspace_v2", JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG);
        workspace = cuda.alloc(GpuMemory.Part.WORKSPACE, WORKSPACE_BYTES);
        check((int) Cuda.call(setWorkspace, handle, workspace, WORKSPACE_BYTES), "cublasSetWorkspace");
        alpha = arena.allocate(JAVA_FLOAT);
        beta = arena.allocate(JAVA_FLOAT);
    }

    /**
     * Row-major {@code y[rows, out] = x[rows, in] · W[out, in]ᵀ (+ y when accumulate)} with x and W bf16, y float32.
     */
    public void linear(long w, long xBf16, long y, int rows, int out, int in, boolean accumulate) {
        gemm(OP_T, OP_N, out, rows, in, 1f, w, R_16BF, in, xBf16, R_16BF, in, accumulate ? 1f : 0f, y, out, COMPUTE_32F);
    }

    /**
     * Column-major float32 {@code C[m, n] = alpha · op(A) · op(B) + beta · C} on TF32 tensor cores; op is a
     * transpose when {@code transA}/{@code transB}.
     */
    public void gemmF32(boolean transA, boolean transB, int m, int n, int k, float alpha, long a, int lda, long b,
                        int ldb, float beta, long c, int ldc) {
        gemm(transA ? OP_T : OP_N, transB ? OP_T : OP_N, m, n, k, alpha, a, R_32F, lda, b, R_32F, ldb, beta, c, ldc,
                COMPUTE_32F_FAST_TF32);
    }

    /**
     * Column-major {@code C[m, n] = alpha · op(A) · op(B) + beta · C} with A and B float32 or bf16, C float32, float32
     * accumulation (no TF32: float32 operands keep float32's precision).
     */
    public void gemm(boolean transA, boolean transB, int m, int n, int k, float alpha, long a, boolean aBf16, int lda,
                     long b, boolean bBf16, int ldb, float beta, long c, int ldc) {
        gemm(transA ? OP_T : OP_N, transB ? OP_T : OP_N, m, n, k, alpha, a, aBf16 ? R_16BF : R_32F, lda, b,
                bBf16 ? R_16BF : R_32F, ldb, beta, c, ldc, COMPUTE_32F);
    }

    /**
     * {@code batch} products of {@link #gemm}'s form at once, operand i at {@code A + i · strideA} elements (a stride
     * of 0 shares one operand): the heads of attention.
     */
    public synchronized void gemmStridedBatched(boolean transA, boolean transB, int m, int n, int k, float alphaValue,
                                                long a, boolean aBf16, int lda, long strideA, long b, boolean bBf16,
                                                int ldb, long strideB, float betaValue, long c, int ldc, long strideC,
                                                int batch) {
        this.alpha.set(JAVA_FLOAT, 0, alphaValue);
        this.beta.set(JAVA_FLOAT, 0, betaValue);
        if (profiler != null) profiler.begin();
        int rc;
        try {
            rc = (int) gemmStridedBatchedEx.invokeExact(handle, transA ? OP_T : OP_N, transB ? OP_T : OP_N, m, n, k,
                    this.alpha, a, aBf16 ? R_16BF : R_32F, lda, strideA, b, bBf16 ? R_16BF : R_32F, ldb, strideB,
                    this.beta, c, R_32F, ldc, strideC, batch, COMPUTE_32F, GEMM_DEFAULT);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
        if (rc != 0) check(rc, "cublasGemmStridedBatchedEx (m " + m + ", n " + n + ", k " + k + ", batch " + batch + ")");
        if (profiler != null) {
            profiler.end("cublasGemmStridedBatchedEx " + (aBf16 ? "bf16" : "f32") + " " + m + "×" + n + "×" + k + "×" + batch,
                    2.0 * m * n * k * batch);
        }
    }

    private synchronized void gemm(int opA, int opB, int m, int n, int k, float a, long A, int typeA, int lda, long B,
                                   int typeB, int ldb, float b, long C, int ldc, int compute) {
        alpha.set(JAVA_FLOAT, 0, a);
        beta.set(JAVA_FLOAT, 0, b);
        if (profiler != null) profiler.begin();
        int rc;
        try {
            rc = (int) gemmEx.invokeExact(handle, opA, opB, m, n, k, alpha, A, typeA, lda, B, typeB, ldb, beta, C,
                    R_32F, ldc, compute, GEMM_DEFAULT);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
        if (rc != 0) check(rc, "cublasGemmEx (m " + m + ", n " + n + ", k " + k + ")");
        if (profiler != null) {
            String kind = typeA == R_16BF ? "bf16" : compute == COMPUTE_32F_FAST_TF32 ? "tf32" : "f32";
            profiler.end("cublasGemmEx " + kind + " " + m + "×" + n + "×" + k, 2.0 * m * n * k);
        }
    }

    /** Destroys the handle and frees its workspace. */
    void close() {
        check((int) Cuda.call(destroy, handle), "cublasDestroy");
        cuda.free(workspace);
    }

    private static void check(int rc, String what) {
        if (rc == 3) {
            throw CudaException.outOfMemory("out of GPU memory: " + what + " could not allocate cuBLAS's workspace",
                    "use a smaller model, context or batch");
        }
        if (rc != 0) throw new CudaException(what + " failed: cuBLAS status " + rc);
    }
}
