package dev.nemoh.cuda;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * nemoh's own kernels ({@code kernels.cu} beside this class), compiled by NVRTC for the GPU's architecture on first
 * use and cached as a cubin under {@code ~/.cache/nemoh/} keyed by the source's hash and the architecture, so later
 * runs skip the compile. Arguments are passed as Java {@code Integer}, {@code Float} or {@code Long} (device
 * pointers and 64-bit counts), in the kernel's parameter order.
 */
public final class CudaKernels {
    private static final String SOURCE = "kernels.cu";
    private static final int MAX_ARGS = 32;

    private final Cuda cuda;
    private final MemorySegment module;
    private final Map<String, MemorySegment> functions = new HashMap<>();
    /** Argument values (8 bytes each) followed by the pointer to each, reused by every launch (launches copy them). */
    private final MemorySegment values, pointers;
    /** Times every launch while set (bench --profile). */
    Profiler profiler;

    public CudaKernels(Cuda cuda) {
        this.cuda = cuda;
        this.module = cuda.loadModule(cubin(cuda.arch()));
        Arena arena = Arena.ofAuto();
        values = arena.allocate(8L * MAX_ARGS, 8);
        pointers = arena.allocate(ADDRESS, MAX_ARGS);
        for (int i = 0; i < MAX_ARGS; i++) pointers.setAtIndex(ADDRESS, i, values.asSlice(8L * i));
    }

    private static byte[] cubin(String arch) {
        String source;
        try (InputStream in = CudaKernels.class.getResourceAsStream(SOURCE)) {
            if (in == null) throw new CudaException(SOURCE + " is missing from the jar; rebuild nemoh");
            source = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Path cache = Path.of(System.getProperty("user.home"), ".cache", "nemoh",
                "kernels-" + hash(source) + "-" + arch + ".cubin");
        try {
            if (Files.exists(cache)) return Files.readAllBytes(cache);
        } catch (IOException unreadable) {
            // compile again below
        }
        byte[] image = new Nvrtc().compile(source, SOURCE, arch);
        try {
            Files.createDirectories(cache.getParent());
            Path tmp = Files.createTempFile(cache.getParent(), "kernels", ".tmp");
            Files.write(tmp, image);
            Files.move(tmp, cache, java.nio.file.StandardCopyOption.ATOMIC_MOVE, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException notCached) {
            // a read-only home only costs the compile next time
        }
        return image;
    }

    private static String hash(String source) {
        try {
            byte[] d = MessageDigest.getInstance("SHA-256").digest(source.getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(d, 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Launches {@code name} on a (gx, gy, gz) grid of 1-D blocks. */
    public synchronized void launch(String name, int gx, int gy, int gz, int block, int sharedBytes, Object... args) {
        MemorySegment f = functions.computeIfAbsent(name, n -> cuda.function(module, n));
        if (args.length > MAX_ARGS) throw new IllegalArgumentException(name + ": too many arguments");
        // an instanceof chain, not a pattern switch: on the decode path (hundreds of launches per token) the switch's
        // bootstrap dispatch costs more per launch than this chain
        for (int i = 0; i < args.length; i++) {
            Object v = args[i];
            if (v instanceof Long n) values.set(JAVA_LONG, 8L * i, n);
            else if (v instanceof Integer n) values.set(JAVA_INT, 8L * i, n);
            else if (v instanceof Float n) values.set(JAVA_FLOAT, 8L * i, n);
            else throw new IllegalArgumentException(name + " argument " + i + " is a " + v.getClass());
        }
        if (profiler == null) {
            cuda.launch(f, gx, gy, gz, block, sharedBytes, pointers, name);
            return;
        }
        profiler.begin();
        cuda.launch(f, gx, gy, gz, block, sharedBytes, pointers, name);
        StringBuilder label = new StringBuilder(name).append(" (").append(gx).append('×').append(gy).append('×').append(gz);
        for (Object v : args) if (v instanceof Integer n) label.append(", ").append(n);
        profiler.end(label.append(')').toString(), 0);
    }

    public void launch1d(String name, int grid, int block, Object... args) {
        launch(name, grid, 1, 1, block, 0, args);
    }

    /** Blocks for a grid-stride loop over n elements. */
    public static int gridFor(long n, int block) {
        return (int) Math.max(1, Math.min((n + block - 1) / block, 65536));
    }
}
