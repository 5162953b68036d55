package dev.nemoh.cuda;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Builds the CPU emulator of the CUDA stack (src/test/cpp/cuda-emu): one shared library with the C symbols of the
 * libcuda, libcublas and libnvrtc subset nemoh calls, and nemoh's own kernels compiled for the CPU from
 * {@link KernelSource#join()} (plus the emulator's test kernels, selftest.cu). Pointing
 * {@value NativeLibrary#EMULATOR} at it runs the cuda backend unchanged on the CPU ({@link TestDevice#cuda()}).
 * <p>
 * The build writes the prepared kernel source, the kernel registry (every kernel {@link KernelSource#signatures}
 * finds, with its launch bounds) and the joined source NVRTC will be given into {@code target/cuda-emu/HASH/}, then
 * compiles everything with g++ (the translation units in parallel). HASH covers every input, the compiler's version
 * and the flags, so the library is built once per change.
 */
public final class CudaEmulator {
    static final String LIBRARY = "libnemoh_cuda_emu.so";
    /** The translation units, the longest to compile first. */
    static final List<String> UNITS = List.of("driver.cpp", "fiber.cpp", "kernels.cpp", "memory.cpp", "cublas.cpp", "nvrtc.cpp");
    static final List<String> FLAGS = List.of("-O2", "-std=c++20", "-fPIC", "-fvisibility=hidden", "-g1", "-Wno-unknown-pragmas");
    /** The kernels only the emulator has, joined after nemoh's: its self-tests (CudaEmulatorTest). */
    static final String SELF_TEST = "selftest.cu";

    private static Path library;
    private static String unavailable;

    private CudaEmulator() {
    }

    /** Why the emulator cannot be built here (no g++, no sources); the tests that need it skip with this reason. */
    public static final class Unavailable extends Exception {
        Unavailable(String why) {
            super(why);
        }
    }

    /** The emulator library, built if its inputs changed since the last build. */
    /**
     * Lends {@code bytes} of device memory from now on (0: the default), so that a test can run out of it; the emulator
     * must be the device in use ({@link TestDevice#emulated()}).
     */
    static void setDeviceMemory(long bytes) {
        var lib = java.lang.foreign.SymbolLookup.libraryLookup(Path.of(System.getProperty(NativeLibrary.EMULATOR)),
                java.lang.foreign.Arena.global());
        var set = java.lang.foreign.Linker.nativeLinker().downcallHandle(lib.find("nemoh_emu_set_device_memory").orElseThrow(),
                java.lang.foreign.FunctionDescriptor.ofVoid(java.lang.foreign.ValueLayout.JAVA_LONG));
        try {
            set.invokeExact(bytes);
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    public static synchronized Path library() throws Unavailable {
        if (library != null) return library;
        if (unavailable != null) throw new Unavailable(unavailable);
        try {
            library = build();
            return library;
        } catch (Unavailable e) {
            unavailable = e.getMessage();
            throw e;
        }
    }

    private static Path build() throws Unavailable {
        if (!System.getProperty("os.name", "").toLowerCase(Locale.ROOT).contains("linux")) {
            throw new Unavailable("the CUDA emulator builds on Linux only");
        }
        Path sources = sourceDir();
        String compiler = System.getenv().getOrDefault("CXX", "g++");
        String version;
        try {
            Process p = new ProcessBuilder(compiler, "--version").redirectErrorStream(true).start();
            version = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(1, TimeUnit.MINUTES) || p.exitValue() != 0) throw new IOException(version);
        } catch (IOException | InterruptedException e) {
            throw new Unavailable("no C++ compiler (" + compiler + ", or $CXX) to build the CUDA emulator: " + e.getMessage());
        }
        try {
            String joined = KernelSource.join();
            String selfTest = Files.readString(sources.resolve(SELF_TEST));
            String all = joined + "#line 1 \"" + SELF_TEST + "\"\n" + selfTest;
            Map<String, String> generated = new java.util.LinkedHashMap<>();
            generated.put("kernels.emu.cu", prepare(all));
            generated.put("registry.inc", registry(all, compiler));
            generated.put("source.inc", rawString(joined));

            MessageDigest digest = MessageDigest.getInstance("SHA-256");
            List<Path> inputs;
            try (Stream<Path> files = Files.list(sources)) {
                inputs = files.filter(f -> f.getFileName().toString().matches(".*\\.(cpp|h|cu|inc)")).sorted().toList();
            }
            for (Path f : inputs) {
                digest.update(f.getFileName().toString().getBytes(StandardCharsets.UTF_8));
                digest.update(Files.readAllBytes(f));
            }
            for (var e : generated.entrySet()) digest.update((e.getKey() + e.getValue()).getBytes(StandardCharsets.UTF_8));
            digest.update((version + FLAGS).getBytes(StandardCharsets.UTF_8));
            String hash = HexFormat.of().formatHex(digest.digest(), 0, 8);

            Path dir = sources.getParent().getParent().getParent().getParent().resolve("target").resolve("cuda-emu").resolve(hash);
            Path lib = dir.resolve(LIBRARY);
            if (Files.exists(lib)) return lib;
            Files.createDirectories(dir);
            for (var e : generated.entrySet()) Files.writeString(dir.resolve(e.getKey()), e.getValue());
            compile(compiler, sources, dir);
            prune(dir);
            return lib;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Removes the builds of other inputs older than an hour (a JVM started before may still be using a newer one). */
    private static void prune(Path keep) throws IOException {
        long hourAgo = System.currentTimeMillis() - 3_600_000;
        try (Stream<Path> builds = Files.list(keep.getParent())) {
            for (Path old : builds.filter(d -> !d.equals(keep) && Files.isDirectory(d)).toList()) {
                if (Files.getLastModifiedTime(old).toMillis() > hourAgo) continue;
                try (Stream<Path> files = Files.walk(old)) {
                    for (Path f : files.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(f);
                }
            }
        }
    }

    /** src/test/cpp/cuda-emu of the checkout the tests run in. */
    private static Path sourceDir() throws Unavailable {
        for (String start : new String[] {System.getProperty("basedir"), System.getProperty("user.dir")}) {
            if (start == null) continue;
            for (Path d = Path.of(start).toAbsolutePath(); d != null; d = d.getParent()) {
                Path s = d.resolve("src/test/cpp/cuda-emu");
                if (Files.isRegularFile(s.resolve("fiber.cpp"))) return s;
            }
        }
        throw new Unavailable("the CUDA emulator's sources (src/test/cpp/cuda-emu) are not in this checkout");
    }

    /** Compiles the units in parallel (as many at once as there are cores), then links; a compile error is a failure. */
    private static void compile(String compiler, Path sources, Path dir) throws IOException {
        long start = System.nanoTime();
        List<String> objects = new ArrayList<>();
        List<java.util.concurrent.Callable<Void>> jobs = new ArrayList<>();
        for (String unit : UNITS) {
            String object = dir.resolve(unit.replace(".cpp", ".o")).toString();
            objects.add(object);
            List<String> cmd = new ArrayList<>(List.of(compiler));
            cmd.addAll(FLAGS);
            cmd.addAll(List.of("-I" + dir, "-I" + sources, "-c", "-o", object, sources.resolve(unit).toString()));
            Path log = dir.resolve(unit + ".log");
            jobs.add(() -> {
                await(new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start(), log);
                return null;
            });
        }
        int parallel = Math.max(1, Runtime.getRuntime().availableProcessors());
        try (var pool = java.util.concurrent.Executors.newFixedThreadPool(parallel)) {
            for (var done : pool.invokeAll(jobs)) done.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        } catch (java.util.concurrent.ExecutionException e) {
            if (e.getCause() instanceof RuntimeException r) throw r;
            throw new IllegalStateException(e.getCause());
        }
        Path tmp = dir.resolve(LIBRARY + ".tmp");
        List<String> link = new ArrayList<>(List.of(compiler, "-shared", "-o", tmp.toString()));
        link.addAll(objects);
        link.add("-lpthread");
        Path log = dir.resolve("link.log");
        await(new ProcessBuilder(link).redirectErrorStream(true).redirectOutput(log.toFile()).start(), log);
        Files.move(tmp, dir.resolve(LIBRARY), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        System.out.printf("built the CUDA emulator %s in %.1f s%n", dir.resolve(LIBRARY), (System.nanoTime() - start) / 1e9);
    }

    private static void await(Process p, Path log) throws IOException {
        try {
            if (!p.waitFor(10, TimeUnit.MINUTES)) {
                p.destroyForcibly();
                throw new IllegalStateException("building the CUDA emulator timed out; see " + log);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
        if (p.exitValue() != 0) {
            throw new IllegalStateException("building the CUDA emulator failed (" + log + "):\n" + Files.readString(log));
        }
    }

    /** A kernel's launch bounds, before or after {@code void}, once macros are expanded. */
    private static final Pattern BOUNDS = Pattern.compile(
            "__launch_bounds__\\s*\\(\\s*(\\d+)[^)]*\\)\\s*(?:void\\s+)?(\\w+)\\s*\\(");
    /** {@code extern __shared__ T name[];}, dynamic shared memory. */
    private static final Pattern DYNAMIC_SHARED = Pattern.compile(
            "extern\\s+__shared__\\s+(?:__align__\\s*\\(\\s*\\d+\\s*\\)\\s+)?([A-Za-z_][\\w\\s]*?)\\s+(\\w+)\\s*\\[\\s*\\]\\s*;");

    /**
     * The source g++ compiles: kernels lose {@code extern "C"} (kernels.cpp puts them in a namespace, where their
     * names cannot collide with the C library's) and each dynamic shared memory array becomes a pointer to the
     * launch's. Lines keep their numbers, so errors and fault reports name the CUDA file and line.
     */
    static String prepare(String source) {
        String s = source.replace("extern \"C\"", "");
        return DYNAMIC_SHARED.matcher(s).replaceAll("$1* $2 = ($1*) emu::dynamic_shared();");
    }

    /**
     * One {@code EMU_KERNEL(name, launch bounds, kinds)} line per kernel {@link KernelSource#signatures} finds, its
     * parameter kinds as letters (P pointer, L i64, I i32, F f32: kernels.cpp checks them against the C++
     * signature); launch bounds from the source as the preprocessor expands it.
     */
    static String registry(String source, String compiler) throws IOException {
        Map<String, Integer> bounds = new HashMap<>();
        Path errors = Files.createTempFile("cuda-emu-cpp", ".log");
        Process cpp = new ProcessBuilder(compiler, "-E", "-P", "-x", "c++", "-").redirectError(errors.toFile()).start();
        Thread feed = Thread.ofVirtual().start(() -> {
            try (var in = cpp.getOutputStream()) {
                in.write(source.getBytes(StandardCharsets.UTF_8));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
        String expanded = new String(cpp.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        try {
            feed.join();
            if (cpp.waitFor() != 0) {
                throw new IllegalStateException("preprocessing the kernel sources failed: " + Files.readString(errors));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        } finally {
            Files.deleteIfExists(errors);
        }
        Matcher m = BOUNDS.matcher(expanded);
        while (m.find()) bounds.put(m.group(2), Integer.parseInt(m.group(1)));
        StringBuilder out = new StringBuilder();
        for (var e : KernelSource.signatures(source).entrySet()) {
            StringBuilder kinds = new StringBuilder();
            for (KernelSource.Param p : e.getValue()) {
                kinds.append(switch (p.kind()) {
                    case PTR -> 'P';
                    case I64 -> 'L';
                    case I32 -> 'I';
                    case F32 -> 'F';
                });
            }
            out.append("EMU_KERNEL(").append(e.getKey()).append(", ").append(bounds.getOrDefault(e.getKey(), 1024))
                    .append(", \"").append(kinds).append("\")\n");
        }
        return out.toString();
    }

    /** {@code text} as a C++ raw string literal, byte for byte. */
    static String rawString(String text) {
        String delimiter = "emu_src";
        while (text.contains(")" + delimiter + "\"")) delimiter += "_";
        return "R\"" + delimiter + "(" + text + ")" + delimiter + "\"\n";
    }
}
