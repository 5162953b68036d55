package dev.nemoh.cuda;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicReference;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The CPU emulator of the CUDA stack (src/test/cpp/cuda-emu) against what CUDA defines: warp operations as PTX
 * specifies them, barriers, dynamic shared memory; deadlocks, misuse and faults reported as CUDA errors naming the
 * kernel and the place (not hangs or crashes); graph capture and replay; cuBLAS products against a float64 reference;
 * NVRTC refusing sources the emulator was not built from. Its test kernels are in selftest.cu. Runs on the emulator
 * only: on a GPU the other cuda tests run.
 */
class CudaEmulatorTest {
    static Cuda cuda;
    static MemorySegment module;
    static MethodHandle lastError, reset, cublasCreate, cublasSetStream, gemmEx, gemmStridedBatchedEx;
    static MemorySegment blas;

    @BeforeAll
    static void emulator() {
        cuda = TestDevice.cuda();
        assumeTrue(TestDevice.emulated(), "tests of the CPU emulator; on a GPU the other cuda tests run");
        cuda.makeCurrent();
        module = cuda.loadModule(new Nvrtc().compile(KernelSource.join(), "kernels.cu", cuda.arch()));
        SymbolLookup lib = SymbolLookup.libraryLookup(Path.of(System.getProperty(NativeLibrary.EMULATOR)), Arena.global());
        Linker linker = Linker.nativeLinker();
        lastError = linker.downcallHandle(lib.find("nemoh_emu_last_error").orElseThrow(), FunctionDescriptor.of(ADDRESS));
        reset = linker.downcallHandle(lib.find("nemoh_emu_reset").orElseThrow(), FunctionDescriptor.ofVoid());
        cublasCreate = linker.downcallHandle(lib.find("cublasCreate_v2").orElseThrow(), FunctionDescriptor.of(JAVA_INT, ADDRESS));
        cublasSetStream = linker.downcallHandle(lib.find("cublasSetStream_v2").orElseThrow(),
                FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
        gemmEx = linker.downcallHandle(lib.find("cublasGemmEx").orElseThrow(), FunctionDescriptor.of(JAVA_INT, ADDRESS,
                JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_INT,
                JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
        gemmStridedBatchedEx = linker.downcallHandle(lib.find("cublasGemmStridedBatchedEx").orElseThrow(),
                FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, JAVA_LONG,
                        JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS, JAVA_LONG, JAVA_INT,
                        JAVA_INT, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT));
        MemorySegment h = Arena.global().allocate(ADDRESS);
        assertEquals(0, (int) Cuda.call(cublasCreate, h));
        blas = h.get(ADDRESS, 0);
        assertEquals(0, (int) Cuda.call(cublasSetStream, blas, cuda.stream));
    }

    /** The tests provoke errors, which stay (as on a GPU) until reset. */
    @AfterEach
    void clearErrors() {
        if (cuda != null && TestDevice.emulated()) Cuda.call(reset);
    }

    // ---- launching test kernels ----------------------------------------------------------------------------------

    /** Launches {@code kernel} on a 1-D grid; arguments: Long (pointer or i64), Integer, Float. */
    static void launch(String kernel, int grid, int block, int shared, Object... args) {
        launch(cuda.function(module, kernel), kernel, grid, block, shared, args);
    }

    static void launch(MemorySegment f, String kernel, int grid, int block, int shared, Object... args) {
        try (Arena a = Arena.ofConfined()) {
            launch(f, kernel, grid, block, shared, params(a, args));
        }
    }

    static void launch(MemorySegment f, String kernel, int grid, int block, int shared, MemorySegment params) {
        cuda.launch(f, grid, 1, 1, block, shared, params, kernel);
    }

    static MemorySegment params(Arena a, Object... args) {
        MemorySegment values = a.allocate(8L * Math.max(1, args.length), 8), pointers = a.allocate(ADDRESS, Math.max(1, args.length));
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case Long v -> values.set(JAVA_LONG, 8L * i, v);
                case Integer v -> values.set(JAVA_INT, 8L * i, v);
                case Float v -> values.set(JAVA_FLOAT, 8L * i, v);
                default -> throw new IllegalArgumentException(String.valueOf(args[i]));
            }
            pointers.setAtIndex(ADDRESS, i, values.asSlice(8L * i));
        }
        return pointers;
    }

    static String lastError() {
        return ((MemorySegment) Cuda.call(lastError)).reinterpret(1 << 16).getString(0);
    }

    /** Runs {@code r}, which must fail with CUDA error {@code name}; returns the emulator's message about it. */
    static String failure(String name, Runnable r) {
        CudaException e = assertThrows(CudaException.class, r::run);
        assertTrue(e.getMessage().contains(name), e.getMessage());
        return lastError();
    }

    static void assertContains(String text, String... parts) {
        for (String p : parts) assertTrue(text.contains(p), "\"" + p + "\" missing from: " + text);
    }

    // ---- what kernels compute --------------------------------------------------------------------------------------

    /** The value a lane reads in shfl.sync with operand b and c, per PTX; v(lane) = 100 · warp + lane. */
    static float shfl(String mode, int lane, int warp, int b, int width) {
        int c = mode.equals("up") ? (32 - width) << 8 : ((32 - width) << 8) | 0x1f;
        int cval = c & 0x1f, segmask = (c >> 8) & 0x1f;
        int maxLane = (lane & segmask) | (cval & ~segmask), minLane = lane & segmask, j;
        boolean p;
        switch (mode) {
            case "up" -> { j = lane - b; p = j >= maxLane; }
            case "down" -> { j = lane + b; p = j <= maxLane; }
            case "xor" -> { j = lane ^ b; p = j <= maxLane; }
            default -> { j = minLane | (b & ~segmask); p = j <= maxLane; }
        }
        return 100f * warp + (p ? j : lane);
    }

    @Test
    void warpOperationsFollowPtx() {
        int threads = 64;
        long out = cuda.alloc(GpuMemory.Part.WORKSPACE, 4L * 16 * threads), bits = cuda.alloc(GpuMemory.Part.WORKSPACE, 4L * 4 * threads);
        launch("emu_test_warp", 1, threads, 0, out, bits);
        float[] o = cuda.downloadFloats(out, 16 * threads);
        int[] b = cuda.downloadInts(bits, 4 * threads);
        float blockTotal = 0;
        for (int t = 0; t < threads; t++) blockTotal += 100f * (t >> 5) + (t & 31);
        for (int t = 0; t < threads; t++) {
            int lane = t & 31, warp = t >> 5;
            float[] expected = {shfl("xor", lane, warp, 1, 32), shfl("xor", lane, warp, 16, 32), shfl("xor", lane, warp, 5, 8),
                    shfl("idx", lane, warp, 7, 32), shfl("idx", lane, warp, 3, 8), shfl("idx", lane, warp, lane ^ 31, 32),
                    shfl("up", lane, warp, 2, 32), shfl("up", lane, warp, 3, 16), shfl("down", lane, warp, 4, 32),
                    shfl("down", lane, warp, 1, 4), 3200f * warp + 496, blockTotal,
                    shfl("xor", lane, warp, 8, 32), shfl("down", lane, warp, 1, 16), 496, 1000};
            assertArrayEquals(expected, Arrays.copyOfRange(o, 16 * t, 16 * t + 16), "thread " + t);
            int ballot = 0;
            for (int l = 0; l < 32; l += 3) ballot |= 1 << l;
            assertArrayEquals(new int[] {ballot, 1, 0, 20}, Arrays.copyOfRange(b, 4 * t, 4 * t + 4), "thread " + t);
        }
        cuda.free(out);
        cuda.free(bits);
    }

    @Test
    void blockSumsAreRightForEveryBlockSize() {
        int rows = 3, n = 1000;
        SplittableRandom random = new SplittableRandom(1);
        float[] x = new float[rows * n];
        for (int i = 0; i < x.length; i++) x[i] = (float) random.nextGaussian();
        long dx = cuda.alloc(GpuMemory.Part.WORKSPACE, 4L * x.length), out = cuda.alloc(GpuMemory.Part.WORKSPACE, 4L * rows);
        cuda.upload(dx, x);
        for (int block : new int[] {32, 96, 256, 1024}) {
            launch("emu_test_block_sum", rows, block, 0, dx, out, n);
            float[] got = cuda.downloadFloats(out, rows);
            for (int r = 0; r < rows; r++) {
                double sum = 0;
                for (int i = 0; i < n; i++) sum += x[r * n + i];
                assertEquals(sum, got[r], 1e-4, "row " + r + ", block " + block);
            }
        }
        cuda.free(dx);
        cuda.free(out);
    }

    @Test
    void dynamicSharedMemoryIsPerBlockAndLimited() {
        int n = 200, block = 64, grid = 4;
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = i;
        long dx = cuda.alloc(GpuMemory.Part.WORKSPACE, 4L * n), dy = cuda.allocZeroed(GpuMemory.Part.WORKSPACE, 4L * n), count = cuda.allocZeroed(GpuMemory.Part.WORKSPACE, 4);
        cuda.upload(dx, x);
        launch("emu_test_dynamic_shared", grid, block, 4 * block, dx, dy, count, n);
        float[] y = cuda.downloadFloats(dy, n);
        for (int j = 0; j < n; j++) {
            int b = j / block, i = b * block + (block - 1 - j % block);
            assertEquals(i < n ? i : 0, y[j], "y[" + j + "]");
        }
        assertEquals(grid, cuda.downloadInts(count, 1)[0], "atomicAdd once per block");
        // past 48 KiB only once raised, as on a GPU
        MemorySegment f = cuda.function(module, "emu_test_dynamic_shared");
        assertContains(failure("CUDA_ERROR_INVALID_VALUE", () -> launch(f, "emu_test_dynamic_shared", grid, block, 64 << 10,
                dx, dy, count, n)), "65536 bytes of dynamic shared memory", "cuFuncSetAttribute");
        cuda.maxDynamicSharedMemory(f, 64 << 10);
        launch(f, "emu_test_dynamic_shared", grid, block, 64 << 10, dx, dy, count, n);
        for (long p : new long[] {dx, dy, count}) cuda.free(p);
    }

    @Test
    void freshDeviceMemoryReadsAsNaN() {
        long p = cuda.alloc(GpuMemory.Part.WORKSPACE, 64);
        for (float v : cuda.downloadFloats(p, 16)) assertTrue(Float.isNaN(v), "uninitialised memory should be NaN, not " + v);
        cuda.free(p);
    }

    // ---- what the emulator reports ---------------------------------------------------------------------------------

    @Test
    void aDeadlockIsReportedWithWhereEachThreadWaits() {
        long out = cuda.alloc(GpuMemory.Part.WORKSPACE, 4 * 64);
        String message = failure("CUDA_ERROR_LAUNCH_FAILED", () -> launch("emu_test_deadlock", 1, 64, 0, out));
        assertContains(message, "kernel emu_test_deadlock", "deadlock", "thread 0 waits at __syncthreads (selftest.cu:",
                "threads 1-31 wait at __shfl_xor_sync (selftest.cu:", "for lane 0 of warp 0", "threads 32-63 have exited");
        // the error is sticky, as a failed kernel's is on a GPU
        assertContains(failure("CUDA_ERROR_LAUNCH_FAILED", cuda::synchronize));
        Cuda.call(reset);
        cuda.synchronize();
        cuda.free(out);
    }

    @Test
    void barriersAndWarpOperationsOutsideTheirRulesFail() {
        long out = cuda.alloc(GpuMemory.Part.WORKSPACE, 4 * 64);
        // (the messages name the threads that came first: NEMOH_EMU_ORDER=reverse runs them in the other order)
        boolean reverse = "reverse".equals(System.getenv("NEMOH_EMU_ORDER"));
        assertContains(failure("CUDA_ERROR_LAUNCH_FAILED", () -> launch("emu_test_divergent_barrier", 1, 64, 0, out)),
                "divergent barrier", reverse ? "thread 31 reached __syncthreads at selftest.cu:" : "thread 32 reached __syncthreads at selftest.cu:",
                reverse ? "threads 32-63 wait at __syncthreads" : "threads 0-31 wait at __syncthreads");
        Cuda.call(reset);
        // exited lanes count as arrived, but their values are undefined: reading one fails
        assertContains(failure("CUDA_ERROR_LAUNCH_FAILED", () -> launch("emu_test_exited_lane", 1, 32, 0, out, 0)),
                "lane 16 of warp 0 reads lane 0 in __shfl_xor_sync (common.cuh:", "mask 0xffffffff, but lane 0 has exited");
        Cuda.call(reset);
        assertContains(failure("CUDA_ERROR_LAUNCH_FAILED", () -> launch("emu_test_exited_lane", 1, 32, 0, out, 5)),
                "lane 21 of warp 0 reads lane 5 in __shfl_xor_sync (common.cuh:", "but lane 5 has exited");
        Cuda.call(reset);
        // a block that is not a multiple of 32 threads has lanes that do not exist
        assertContains(failure("CUDA_ERROR_LAUNCH_FAILED", () -> launch("emu_test_block_sum", 1, 48, 0, out, out, 1)),
                "lane 0 of warp 1 reads lane 16", "but lane 16 does not exist: the block is not a multiple of 32 threads");
        Cuda.call(reset);
        // what only the live lanes exchange is fine
        launch("emu_test_partial_warp", 1, 64, 0, out, 40);
        float[] got = cuda.downloadFloats(out, 40);
        for (int t = 0; t < 40; t++) assertEquals(t < 32 ? 31 - t : 71 - t, got[t], "thread " + t);
        cuda.free(out);
    }

    @Test
    void writesPastTheEndOfABufferAreCaught() {
        int n = 1000; // 4000 bytes: the 256-byte aligned start leaves 96 bytes before the guard page
        long x = cuda.alloc(GpuMemory.Part.WORKSPACE, 4L * n);
        launch("emu_test_write", 1, 256, 0, x, n, 0);
        assertContains(failure("CUDA_ERROR_ILLEGAL_ADDRESS", () -> launch("emu_test_write", 1, 256, 0, x, n, 1)),
                "kernel emu_test_write wrote past the end", "byte 0 past the end of the 4000-byte device allocation");
        Cuda.call(reset);
        assertContains(failure("CUDA_ERROR_ILLEGAL_ADDRESS", () -> launch("emu_test_write", 1, 256, 0, x, n, 2000)),
                "kernel emu_test_write", "hit an invalid access to address", "bytes past the end of the 4000-byte device allocation",
                "selftest.cu:");
        Cuda.call(reset);
        cuda.free(x);
        assertContains(failure("CUDA_ERROR_INVALID_VALUE", () -> launch("emu_test_write", 1, 256, 0, x, n, 0)),
                "pointer argument 1", "which was freed");
        assertContains(failure("CUDA_ERROR_INVALID_VALUE", () -> cuda.downloadFloats(x, 1)), "which was freed");
        long y = cuda.alloc(GpuMemory.Part.WORKSPACE, 4L * n);
        assertContains(failure("CUDA_ERROR_INVALID_VALUE", () -> cuda.downloadFloats(y, n + 1)), "4004 bytes", "runs past the end");
        cuda.free(y);
    }

    @Test
    void misalignedVectorAccessesFail() {
        long x = cuda.allocZeroed(GpuMemory.Part.WORKSPACE, 4 * 64);
        launch("emu_test_vector_access", 1, 1, 0, x, 4, 10);
        assertContains(failure("CUDA_ERROR_MISALIGNED_ADDRESS", () -> launch("emu_test_vector_access", 1, 1, 0, x, 1, 10)),
                "thread 0 made a vector access of 16 bytes at", "byte 4 of the 256-byte device allocation", "not 16-byte aligned",
                "code: emu_kernels::emu_test_vector_access(float*, int, int) at selftest.cu:");
        Cuda.call(reset);
        assertContains(failure("CUDA_ERROR_MISALIGNED_ADDRESS", () -> launch("emu_test_vector_access", 1, 1, 0, x, 4, 9)),
                "vector access of 8 bytes at", "byte 36 of the 256-byte device allocation", "not 8-byte aligned");
        Cuda.call(reset);
        cuda.free(x);
    }

    @Test
    void trapsAssertsDivisionsByZeroAndLaunchBoundsFail() {
        long x = cuda.alloc(GpuMemory.Part.WORKSPACE, 4 * 128);
        assertContains(failure("CUDA_ERROR_LAUNCH_FAILED", () -> launch("emu_test_trap", 2, 32, 0, x, 0)),
                "block (1,0,0)", "thread 3 called __trap() at selftest.cu:");
        Cuda.call(reset);
        assertContains(failure("CUDA_ERROR_ASSERT", () -> launch("emu_test_trap", 2, 32, 0, x, 3)),
                "block (1,0,0)", "thread 3: assert(v != 3) failed at selftest.cu:");
        Cuda.call(reset);
        assertContains(failure("CUDA_ERROR_LAUNCH_FAILED", () -> launch("emu_test_divide", 1, 32, 0, x, 0)), "integer division by zero");
        Cuda.call(reset);
        launch("emu_test_divide", 1, 32, 0, x, 7);
        assertEquals(14, cuda.downloadInts(x, 1)[0]);
        launch("emu_test_bounded", 1, 64, 0, x);
        assertContains(failure("CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES", () -> launch("emu_test_bounded", 1, 128, 0, x)),
                "128 threads a block, more than its __launch_bounds__ of 64");
        cuda.free(x);
    }

    @Test
    void aThreadWithoutTheContextCurrentIsRefused() throws Exception {
        AtomicReference<Throwable> thrown = new AtomicReference<>();
        Thread t = new Thread(() -> {
            try {
                cuda.alloc(GpuMemory.Part.WORKSPACE, 16);
            } catch (Throwable e) {
                thrown.set(e);
            }
        });
        t.start();
        t.join();
        assertTrue(thrown.get() instanceof CudaException && thrown.get().getMessage().contains("CUDA_ERROR_INVALID_CONTEXT"),
                String.valueOf(thrown.get()));
    }

    // ---- graphs --------------------------------------------------------------------------------------------------

    /**
     * A captured upload, kernel and download replay as recorded: the kernel's arguments as they were at capture, the
     * host memory of the copies as it is at each replay.
     */
    @Test
    void graphCaptureRecordsAndReplays() {
        int n = 300;
        long x = cuda.alloc(GpuMemory.Part.WORKSPACE, 4L * n), y = cuda.allocZeroed(GpuMemory.Part.WORKSPACE, 4L * n);
        MemorySegment in = cuda.allocHost(4L * n), out = cuda.allocHost(4L * n);
        MemorySegment f = cuda.function(module, "emu_test_axpy");
        try (Arena a = Arena.ofConfined()) {
            MemorySegment params = params(a, y, x, 2f, n);
            MemorySegment graph = cuda.captureGraph(() -> {
                cuda.uploadAsync(x, in, 4L * n);
                launch(f, "emu_test_axpy", (n + 127) / 128, 128, 0, params);
                cuda.downloadAsync(out, y, 4L * n);
            });
            // nothing ran while capturing
            assertArrayEquals(new float[n], cuda.downloadFloats(y, n));
            params.getAtIndex(ADDRESS, 2).reinterpret(4).set(JAVA_FLOAT, 0, 100f);
            for (int replay = 1; replay <= 3; replay++) {
                for (int i = 0; i < n; i++) in.setAtIndex(JAVA_FLOAT, i, replay * i);
                cuda.launchGraph(graph);
                cuda.synchronizeStream();
                // y accumulates 2 · x with this replay's x
                for (int i = 0; i < n; i += 37) {
                    float expected = 0;
                    for (int r = 1; r <= replay; r++) expected += 2f * r * i;
                    assertEquals(expected, out.getAtIndex(JAVA_FLOAT, i), "y[" + i + "] after replay " + replay);
                }
            }
            cuda.destroyGraph(graph);
            assertContains(failure("CUDA_ERROR_INVALID_HANDLE", () -> cuda.launchGraph(graph)), "destroyed graph");
        }
        cuda.freeHost(in);
        cuda.freeHost(out);
        cuda.free(x);
        cuda.free(y);
    }

    /** A synchronous copy (legacy stream) during a capture would make the capture depend on it: invalidated. */
    @Test
    void legacyStreamWorkDuringACaptureInvalidatesIt() {
        long x = cuda.alloc(GpuMemory.Part.WORKSPACE, 16);
        String message = failure("CUDA_ERROR_STREAM_CAPTURE_INVALIDATED", () -> cuda.captureGraph(() -> {
            CudaException e = assertThrows(CudaException.class, () -> cuda.upload(x, new float[] {1, 2}));
            assertTrue(e.getMessage().contains("CUDA_ERROR_STREAM_CAPTURE_IMPLICIT"), e.getMessage());
        }));
        assertContains(message, "cuMemcpyHtoD on the legacy default stream while stream");
        cuda.free(x);
    }

    // ---- cuBLAS ----------------------------------------------------------------------------------------------------

    static final int R_32F = 0, R_16BF = 14, COMPUTE_32F = 68, COMPUTE_32F_FAST_TF32 = 77;

    /** Column-major operand rows × cols with leading dimension ld (padding holds NaN), and its values as read. */
    record Matrix(long ptr, double[] values, int rows, int cols, int ld) {
        double at(int r, int c) {
            return values[r + c * ld];
        }
    }

    static Matrix matrix(Arena a, SplittableRandom random, int rows, int cols, int ld, int type) {
        double[] v = new double[ld * cols];
        MemorySegment host = a.allocate((long) (type == R_32F ? 4 : 2) * v.length);
        for (int c = 0; c < cols; c++) {
            for (int r = 0; r < ld; r++) {
                int i = r + c * ld;
                float f = r < rows ? (float) random.nextGaussian() : Float.NaN;
                if (type == R_32F) {
                    host.setAtIndex(JAVA_FLOAT, i, f);
                    v[i] = f;
                } else {
                    short b = dev.nemoh.tensor.Numerics.floatToBf16(f);
                    host.setAtIndex(JAVA_SHORT, i, b);
                    v[i] = dev.nemoh.tensor.Numerics.bf16ToFloat(b);
                }
            }
        }
        long p = cuda.alloc(GpuMemory.Part.WORKSPACE, host.byteSize());
        cuda.upload(p, host, host.byteSize());
        return new Matrix(p, v, rows, cols, ld);
    }

    static int gemm(int opA, int opB, int m, int n, int k, float alpha, Matrix A, int typeA, Matrix B, int typeB,
                    float beta, long C, int typeC, int ldc, int compute) {
        try (Arena a = Arena.ofConfined()) {
            return (int) Cuda.call(gemmEx, blas, opA, opB, m, n, k, a.allocateFrom(JAVA_FLOAT, alpha), A.ptr, typeA, A.ld,
                    B.ptr, typeB, B.ld, a.allocateFrom(JAVA_FLOAT, beta), C, typeC, ldc, compute, -1);
        }
    }

    /**
     * Every op(A)/op(B) combination, float32 and bf16 operands, C in float32 or bf16, beta 0 (C not read: it holds
     * NaN) and 0.5, against a float64 reference from the same (bf16-rounded) inputs.
     */
    @Test
    void gemmExMatchesAReferenceForEveryOpAndType() {
        int m = 37, n = 19, k = 45;
        SplittableRandom random = new SplittableRandom(7);
        int[][] types = {{R_32F, R_32F, COMPUTE_32F}, {R_32F, R_32F, COMPUTE_32F_FAST_TF32}, {R_16BF, R_32F, COMPUTE_32F},
                {R_16BF, R_16BF, COMPUTE_32F}};
        for (int[] t : types) {
            for (int opA = 0; opA < 2; opA++) {
                for (int opB = 0; opB < 2; opB++) {
                    for (float beta : new float[] {0f, 0.5f}) {
                        try (Arena a = Arena.ofConfined()) {
                            int typeIn = t[0], typeC = t[1], ldc = m + 3;
                            Matrix A = opA == 0 ? matrix(a, random, m, k, m + 2, typeIn) : matrix(a, random, k, m, k + 1, typeIn);
                            Matrix B = opB == 0 ? matrix(a, random, k, n, k + 5, typeIn) : matrix(a, random, n, k, n, typeIn);
                            Matrix C = matrix(a, random, beta == 0 ? 0 : m, n, ldc, typeC); // beta 0: C is all NaN
                            String what = "types " + Arrays.toString(t) + ", op " + opA + opB + ", beta " + beta;
                            assertEquals(0, gemm(opA, opB, m, n, k, 0.75f, A, typeIn, B, typeIn, beta, C.ptr, typeC, ldc, t[2]), what);
                            MemorySegment got = a.allocate((long) (typeC == R_32F ? 4 : 2) * ldc * n);
                            cuda.downloadAsync(got, C.ptr, got.byteSize());
                            cuda.synchronizeStream();
                            double num = 0, den = 0;
                            for (int j = 0; j < n; j++) {
                                for (int i = 0; i < m; i++) {
                                    double ref = beta == 0 ? 0 : beta * C.at(i, j);
                                    for (int kk = 0; kk < k; kk++) {
                                        ref += 0.75 * (opA == 0 ? A.at(i, kk) : A.at(kk, i)) * (opB == 0 ? B.at(kk, j) : B.at(j, kk));
                                    }
                                    double v = typeC == R_32F ? got.getAtIndex(JAVA_FLOAT, i + (long) j * ldc)
                                            : dev.nemoh.tensor.Numerics.bf16ToFloat(got.getAtIndex(JAVA_SHORT, i + (long) j * ldc));
                                    num += (v - ref) * (v - ref);
                                    den += ref * ref;
                                }
                            }
                            double rel = Math.sqrt(num / den);
                            assertTrue(rel < (typeC == R_32F ? 1e-6 : 4e-3), what + ": relative error " + rel);
                            for (Matrix x : new Matrix[] {A, B, C}) cuda.free(x.ptr);
                        }
                    }
                }
            }
        }
    }

    @Test
    void stridedBatchedGemmIsOneGemmPerBatch() {
        int m = 8, n = 5, k = 6, batches = 3;
        SplittableRandom random = new SplittableRandom(9);
        try (Arena a = Arena.ofConfined()) {
            Matrix A = matrix(a, random, m, k * batches, m, R_32F), B = matrix(a, random, n, k * batches, n, R_32F);
            long C = cuda.allocZeroed(GpuMemory.Part.WORKSPACE, 4L * m * n * batches);
            int rc = (int) Cuda.call(gemmStridedBatchedEx, blas, 0, 1, m, n, k, a.allocateFrom(JAVA_FLOAT, 1f), A.ptr, R_32F, m,
                    (long) m * k, B.ptr, R_32F, n, (long) n * k, a.allocateFrom(JAVA_FLOAT, 0f), C, R_32F, m, (long) m * n,
                    batches, COMPUTE_32F, -1);
            assertEquals(0, rc);
            float[] got = cuda.downloadFloats(C, m * n * batches);
            for (int b = 0; b < batches; b++) {
                for (int j = 0; j < n; j++) {
                    for (int i = 0; i < m; i++) {
                        double ref = 0;
                        for (int kk = 0; kk < k; kk++) ref += A.at(i, b * k + kk) * B.at(j, b * k + kk);
                        assertEquals(ref, got[b * m * n + i + j * m], 1e-5, "batch " + b + " (" + i + ", " + j + ")");
                    }
                }
            }
            // cuBLAS's argument checks: lda below the rows of A
            assertEquals(7, gemm(0, 0, m, n, k, 1f, new Matrix(A.ptr, A.values, m, k, m - 1), R_32F, B, R_32F, 0f, C, R_32F, m,
                    COMPUTE_32F), "CUBLAS_STATUS_INVALID_VALUE");
            for (long p : new long[] {A.ptr, B.ptr, C}) cuda.free(p);
        }
    }

    // ---- modules ---------------------------------------------------------------------------------------------------

    @Test
    void everyKernelOfTheSourcesIsInTheRegistry() {
        for (String name : KernelSource.signatures(KernelSource.join()).keySet()) assertTrue(cuda.function(module, name) != null, name);
        assertContains(failure("CUDA_ERROR_NOT_FOUND", () -> cuda.function(module, "no_such_kernel")), "no kernel named no_such_kernel");
    }

    @Test
    void nvrtcRefusesSourcesTheEmulatorWasNotBuiltFrom() {
        String edited = KernelSource.join().replace("float silu(float x)", "float silu(float y)");
        CudaException e = assertThrows(CudaException.class, () -> new Nvrtc().compile(edited, "kernels.cu", cuda.arch()));
        assertContains(e.getMessage(), "the CUDA emulator was built from other kernel sources; rebuild it", "common.cuh:");
        assertContains(failure("CUDA_ERROR_INVALID_IMAGE", () -> cuda.loadModule("\u007fELF....".getBytes())), "a real GPU binary");
    }
}
