package dev.nemoh.kernels;

import jdk.incubator.vector.FloatVector;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * The optional native CPU kernels for decode ({@code src/main/c}, compiled into the jar by
 * {@code scripts/build-native.sh} when the build machine has a C compiler), called through FFM: Q8_0 dot products with
 * AVX2's int8 multiply-adds (Q8_0 and Q4_0 weights), bf16 dot products with {@link DenseWeights#dot}'s exact bits, and attention over a
 * float32 or bf16 KV cache with prefetching. Why: the Vector API has
 * neither an int8 multiply-add nor a prefetch, so its decode kernels stream the weights further below the bandwidth
 * roofline than these (docs/PERFORMANCE.md). They are used on Linux x86-64 CPUs with AVX2
 * and FMA when the library is present, unless {@code -Dnemoh.native=false}; otherwise the Vector API kernels run.
 * {@link #status()} says which and why.
 */
public final class NativeKernels {
    private NativeKernels() {}

    private static final String RESOURCE = "/native/linux-x86_64/libnemoh_cpu.so";
    private static final MethodHandle Q8_0_DOTS, Q4_0_DOTS, BF16_DOTS, F32_TILES, ATTEND_F32, ATTEND_BF16;
    private static final String STATUS;

    static {
        MethodHandle q8 = null, q4 = null, bf16 = null, tiles = null, attendF32 = null, attendBf16 = null;
        String status;
        try {
            String refusal = refusal();
            if (refusal != null) {
                status = "Vector API kernels (" + refusal + ")";
            } else {
                SymbolLookup lib = SymbolLookup.libraryLookup(libraryPath(), Arena.global());
                ValueLayout a = ValueLayout.ADDRESS, i = ValueLayout.JAVA_INT, f = ValueLayout.JAVA_FLOAT;
                FunctionDescriptor quant = FunctionDescriptor.ofVoid(a, a, a, a, a, i, i, i, i, f, i, a, i);
                q8 = downcall(lib, "nemoh_q8_0_dots", quant);
                q4 = downcall(lib, "nemoh_q4_0_dots", quant);
                bf16 = downcall(lib, "nemoh_bf16_dots", FunctionDescriptor.ofVoid(a, a, i, i, i, i, f, i, a, i));
                tiles = downcall(lib, "nemoh_f32_tiles", FunctionDescriptor.ofVoid(a, i, i, a, i, a, i, f, i));
                FunctionDescriptor attend = FunctionDescriptor.ofVoid(a, i, i, a, a, i, f, a, a, a, a);
                attendF32 = downcall(lib, "nemoh_attend_f32", attend);
                attendBf16 = downcall(lib, "nemoh_attend_bf16", attend);
                String file = RESOURCE.substring(RESOURCE.lastIndexOf('/') + 1);
                status = FloatVector.SPECIES_PREFERRED.length() == 8
                        ? "native AVX2 kernels for Q8_0, Q4_0 and bf16 decode, the prefill tile and attention (" + file + ")"
                        : "native AVX2 kernels for Q8_0 and Q4_0 decode and for attention (" + file + "); bf16 decode and"
                          + " the prefill tile on the Vector API, whose " + FloatVector.SPECIES_PREFERRED.length()
                          + "-lane sums set their bits";
            }
        } catch (IOException | URISyntaxException | RuntimeException e) {
            q8 = q4 = bf16 = tiles = attendF32 = attendBf16 = null;
            status = "Vector API kernels (native library not loaded: " + e.getMessage() + ")";
        }
        Q8_0_DOTS = q8;
        Q4_0_DOTS = q4;
        BF16_DOTS = bf16;
        F32_TILES = tiles;
        ATTEND_F32 = attendF32;
        ATTEND_BF16 = attendBf16;
        STATUS = status;
    }

    private static MethodHandle downcall(SymbolLookup lib, String name, FunctionDescriptor descriptor) {
        // short calls on heap arrays: no copies, and no safepoint is needed within a few microseconds
        return Linker.nativeLinker().downcallHandle(lib.find(name).orElseThrow(), descriptor, Linker.Option.critical(true));
    }

    /** Why the native kernel is not used here, or null when it can be. */
    private static String refusal() throws IOException {
        if (!Boolean.parseBoolean(System.getProperty("nemoh.native", "true"))) return "-Dnemoh.native=false";
        if (!System.getProperty("os.name", "").startsWith("Linux") || !System.getProperty("os.arch", "").equals("amd64")) {
            return "the native kernel is built for Linux x86-64 only";
        }
        if (NativeKernels.class.getResource(RESOURCE) == null) {
            return "this build has no native library: the build machine had no C compiler";
        }
        String flags = Files.readAllLines(Path.of("/proc/cpuinfo")).stream().filter(l -> l.startsWith("flags"))
                .findFirst().orElse("") + " ";
        if (!flags.contains(" avx2 ") || !flags.contains(" fma ")) return "this CPU lacks AVX2 or FMA";
        return null;
    }

    /** The library's file: in place when running from class folders, else copied out of the jar once per process. */
    private static Path libraryPath() throws IOException, URISyntaxException {
        URL url = NativeKernels.class.getResource(RESOURCE);
        if ("file".equals(url.getProtocol())) return Path.of(url.toURI());
        Path copy = Files.createTempFile("nemoh_cpu", ".so");
        copy.toFile().deleteOnExit();
        try (InputStream in = url.openStream()) {
            Files.copy(in, copy, StandardCopyOption.REPLACE_EXISTING);
        }
        return copy;
    }

    /** Whether the native kernels run in this process (see also {@link #sameBitsAvailable}). */
    public static boolean available() {
        return Q8_0_DOTS != null;
    }

    /**
     * Whether the native kernels that promise the Vector API's bits run: the bf16 decode kernel and the prefill tile
     * sum in 8-lane vectors, so they give {@link DenseWeights#dot}'s and {@link Vec#dot}'s bits only where the Vector
     * API's preferred float vector has 8 lanes too (AVX2). With AVX-512 (16 lanes) a decode step would otherwise round
     * differently from the prefill tile and from a batch of 4 or more rows.
     */
    public static boolean sameBitsAvailable() {
        return available() && FloatVector.SPECIES_PREFERRED.length() == 8;
    }

    /** Which CPU kernels run, and why, in one line (printed by {@code nemoh bench}). */
    public static String status() {
        return STATUS;
    }

    /**
     * {@code y[yOff + (r − r0) · out + o − o0] (+)= scale · Σ_b dw[o, b] · dx[r, b] · Σ_j qw[o, b, j] · qx[r, b, j]}
     * for weight rows o in [o0, o1) and input rows r in [r0, r0 + rows), as QuantizedWeights lays Q8_0 or Q4_0
     * ({@code q4}) weights out; {@code xsums[r, b] = Σ_j qx[r, b, j]} (the Q4_0 kernel uses them).
     */
    static void quantDots(boolean q4, MemorySegment qw, float[] dw, byte[] qx, float[] dx, int[] xsums, int blocks, int r0,
                          int rows, int o0, int o1, float scale, boolean add, float[] y, int yOff, int out) {
        String format = q4 ? "Q4_0" : "Q8_0";
        // the C code trusts its arguments: a wrong size here would read or write outside the arrays
        if (o0 < 0 || o1 < o0 || r0 < 0 || rows < 1 || yOff < 0 || out < o1 - o0
                || qw.byteSize() < (long) o1 * blocks * (q4 ? 16 : 32) || dw.length < (long) o1 * blocks
                || qx.length < (long) (r0 + rows) * blocks * 32 || dx.length < (long) (r0 + rows) * blocks
                || xsums.length < (long) (r0 + rows) * blocks || y.length < yOff + (long) (rows - 1) * out + (o1 - o0)) {
            throw new IllegalArgumentException("native " + format + " kernel: rows [" + o0 + ", " + o1 + ") of " + blocks
                    + " blocks against input rows [" + r0 + ", " + (r0 + rows) + ") do not fit the arrays given");
        }
        try {
            (q4 ? Q4_0_DOTS : Q8_0_DOTS).invokeExact(qw, MemorySegment.ofArray(dw), MemorySegment.ofArray(qx).asSlice((long) r0 * blocks * 32),
                    MemorySegment.ofArray(dx).asSlice(4L * r0 * blocks), MemorySegment.ofArray(xsums).asSlice(4L * r0 * blocks),
                    blocks, rows, o0, o1, scale, add ? 1 : 0,
                    MemorySegment.ofArray(y).asSlice(4L * yOff), out);
        } catch (Throwable e) {
            throw new IllegalStateException("native " + format + " kernel failed", e);
        }
    }

    /**
     * {@code y[yOff + r · out + o − o0] (+)= scale · Σ_i x[r, i] · W[o, i]} for bf16 W [weight rows, cols], o in
     * [o0, o1) and r in [0, rows), with {@link DenseWeights#dot}'s bits for every output.
     */
    static void bf16Dots(MemorySegment w, float[] x, int cols, int rows, int o0, int o1, float scale, boolean add,
                         float[] y, int yOff, int out) {
        if (o0 < 0 || o1 < o0 || rows < 1 || yOff < 0 || out < o1 - o0 || w.byteSize() < (long) o1 * cols * 2
                || x.length < (long) rows * cols || y.length < yOff + (long) (rows - 1) * out + (o1 - o0)) {
            throw new IllegalArgumentException("native bf16 kernel: rows [" + o0 + ", " + o1 + ") of " + cols
                    + " weights against " + rows + " input rows do not fit the arrays given");
        }
        try {
            BF16_DOTS.invokeExact(w, MemorySegment.ofArray(x), cols, rows, o0, o1, scale, add ? 1 : 0,
                    MemorySegment.ofArray(y).asSlice(4L * yOff), out);
        } catch (Throwable e) {
            throw new IllegalStateException("native bf16 kernel failed", e);
        }
    }

    /**
     * {@code y[yOff + r · out + j] (+)= scale · dot(x[r0 + r], w[j])} for r in [0, rows) and j in [0, n), x [·, in]
     * and w [n, in] float32: the prefill tile, with {@link Vec#dot}'s bits for every output.
     */
    static void f32Tiles(float[] x, int r0, int rows, int in, float[] w, int n, float[] y, int yOff, int out, float scale,
                         boolean add) {
        if (r0 < 0 || rows < 1 || in < 1 || n < 1 || yOff < 0 || out < n || x.length < (long) (r0 + rows) * in
                || w.length < (long) n * in || y.length < yOff + (long) (rows - 1) * out + n) {
            throw new IllegalArgumentException("native prefill tile: " + rows + " rows of " + in + " against " + n
                    + " weight rows do not fit the arrays given");
        }
        try {
            F32_TILES.invokeExact(MemorySegment.ofArray(x).asSlice(4L * r0 * in), rows, in, MemorySegment.ofArray(w), n,
                    MemorySegment.ofArray(y).asSlice(4L * yOff), out, scale, add ? 1 : 0);
        } catch (Throwable e) {
            throw new IllegalStateException("native prefill tile failed", e);
        }
    }

    /** Keys per block in the native attention kernel (BLOCK in attention.c): the scores scratch holds group × this. */
    public static final int ATTENTION_BLOCK = 64;
    /** The largest head dimension the native attention kernel takes (MAX_DIM in attention.c). */
    public static final int ATTENTION_MAX_DIM = 256;

    /** Whether the native attention kernel runs in this process for heads of {@code headDim}. */
    public static boolean attentionAvailable(int headDim) {
        return available() && headDim % 16 == 0 && headDim <= ATTENTION_MAX_DIM;
    }

    /** Keys per native call: about 0.1 ms of work, so that no call keeps the JVM from a safepoint for long. */
    private static final int ATTENTION_CHUNK = 2048;

    /**
     * Continues an online softmax: the {@code group} query heads at {@code q[qOff..]} ([group, dim]) against keys and
     * values {@code from..from + n} of one KV head of a float32 cache ([tokens, dim]). {@code max}, {@code sum} and
     * {@code acc} ([group], [group], [group, dim]) carry the running maximum score, the sum of exp(score − max) and
     * the value sum under that maximum from call to call; {@code scores} is scratch. dim: a multiple of 16, at most
     * {@link #ATTENTION_MAX_DIM}.
     */
    public static void attend(float[] q, int qOff, int group, int dim, float[] k, float[] v, int from, int n, float scale,
                              float[] max, float[] sum, float[] acc, float[] scores) {
        attend(ATTEND_F32, 4, q, qOff, group, dim, MemorySegment.ofArray(k), MemorySegment.ofArray(v), from, n, scale, max, sum, acc, scores);
    }

    /** {@link #attend(float[], int, int, int, float[], float[], int, int, float, float[], float[], float[], float[])} on a bf16 cache. */
    public static void attend(float[] q, int qOff, int group, int dim, short[] k, short[] v, int from, int n, float scale,
                              float[] max, float[] sum, float[] acc, float[] scores) {
        attend(ATTEND_BF16, 2, q, qOff, group, dim, MemorySegment.ofArray(k), MemorySegment.ofArray(v), from, n, scale, max, sum, acc, scores);
    }

    /**
     * Checks every size (the C code trusts them) and calls {@code kernel} on keys and values of {@code bytes} each, in
     * calls of {@link #ATTENTION_CHUNK} keys.
     */
    private static void attend(MethodHandle kernel, int bytes, float[] q, int qOff, int group, int dim, MemorySegment k,
                               MemorySegment v, int from, int n, float scale, float[] max, float[] sum, float[] acc, float[] scores) {
        long end = (long) bytes * (from + n) * dim;
        if (group < 1 || dim < 16 || dim % 16 != 0 || dim > ATTENTION_MAX_DIM || from < 0 || n < 1 || qOff < 0
                || q.length < qOff + (long) group * dim || k.byteSize() < end || v.byteSize() < end || max.length < group
                || sum.length < group || acc.length < (long) group * dim || scores.length < (long) group * ATTENTION_BLOCK) {
            throw new IllegalArgumentException("native attention kernel: " + group + " query heads of dim " + dim
                    + " against keys [" + from + ", " + (from + n) + ") do not fit the arrays given");
        }
        MemorySegment qs = MemorySegment.ofArray(q).asSlice(4L * qOff), maxs = MemorySegment.ofArray(max);
        MemorySegment sums = MemorySegment.ofArray(sum), accs = MemorySegment.ofArray(acc), scratch = MemorySegment.ofArray(scores);
        for (int s0 = from; s0 < from + n; s0 += ATTENTION_CHUNK) {
            long row = (long) bytes * s0 * dim;
            try {
                kernel.invokeExact(qs, group, dim, k.asSlice(row), v.asSlice(row), Math.min(ATTENTION_CHUNK, from + n - s0),
                        scale, maxs, sums, accs, scratch);
            } catch (Throwable e) {
                throw new IllegalStateException("native attention kernel failed", e);
            }
        }
    }
}
