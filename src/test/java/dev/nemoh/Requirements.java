package dev.nemoh;

import dev.nemoh.cuda.Cuda;
import dev.nemoh.kernels.NativeKernels;
import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Assumptions;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * The one way a test depends on something a machine may lack: a CUDA GPU ({@link #assumeCuda}), the native CPU
 * kernels ({@link #assumeNative}), node and npm ({@link #assumeNode}). Where it is missing the test is skipped, as an
 * assumption, unless the system property {@value #PROPERTY} names it ({@code -Dnemoh.require=cuda,native,node}, or
 * {@code all}): then the test fails, so a run that is meant to exercise the GPU, the native library or the Node client
 * cannot pass by skipping them. {@code scripts/cuda-device.sh} runs its tests with {@code cuda,native}.
 */
public final class Requirements {
    public static final String PROPERTY = "nemoh.require";
    static final List<String> NAMES = List.of("cuda", "native", "node");

    private Requirements() {}

    /** A CUDA driver and GPU. */
    public static void assumeCuda() {
        require("cuda", Cuda.available(), "no CUDA GPU here: the cuda backend's tests run on a GPU machine");
    }

    /** The native CPU kernels (built by scripts/build-native.sh, loaded on an AVX2 + FMA CPU). */
    public static void assumeNative() {
        require("native", NativeKernels.available(), NativeKernels.status());
    }

    /** {@code node} and {@code npm} on the PATH. */
    public static void assumeNode() {
        require("node", onPath("node") && onPath("npm"), "node and npm are not on the PATH");
    }

    /** Skips the test where {@code present} is false, or fails it there if {@value #PROPERTY} names {@code name}. */
    static void require(String name, boolean present, String why) {
        Set<String> required = required(); // checked even where present: a misspelt name must not pass unnoticed
        if (present) return;
        if (required.contains(name)) {
            Assertions.fail("-D" + PROPERTY + "=" + System.getProperty(PROPERTY) + " requires " + name + ", but " + why);
        }
        Assumptions.abort(why + " (-D" + PROPERTY + "=" + name + " makes this a failure)");
    }

    /** The names in {@value #PROPERTY}; an unknown one fails every test that asks, naming the known ones. */
    public static Set<String> required() {
        String value = System.getProperty(PROPERTY, "").strip();
        Set<String> names = new TreeSet<>();
        if (value.isEmpty()) return names;
        for (String n : value.split("\\s*,\\s*")) {
            if (n.equals("all")) names.addAll(NAMES);
            else if (NAMES.contains(n)) names.add(n);
            else Assertions.fail("-D" + PROPERTY + "=" + value + ": unknown requirement '" + n + "'; use any of "
                    + NAMES + " or all");
        }
        return names;
    }

    private static boolean onPath(String program) {
        String path = System.getenv("PATH");
        if (path == null) return false;
        return Arrays.stream(path.split(File.pathSeparator)).anyMatch(dir -> Files.isExecutable(Path.of(dir, program)));
    }
}
