package dev.nemoh.cuda;

import dev.nemoh.cuda.KernelSource.Kind;
import dev.nemoh.cuda.KernelSource.Param;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The kernel sources and the typed launch methods' bindings, checked without a GPU. */
class KernelSourceTest {
    static final Map<String, List<Param>> SIGNATURES = KernelSource.signatures(KernelSource.join());

    @Test
    void everyBindingMatchesItsKernel() {
        assertDoesNotThrow(() -> CudaKernels.check(SIGNATURES));
    }

    @Test
    void everyKernelHasABinding() {
        Set<String> bound = CudaKernels.bindings().stream().map(CudaKernels.Kernel::name).collect(Collectors.toSet());
        assertEquals(new TreeSet<>(SIGNATURES.keySet()), new TreeSet<>(bound));
    }

    /**
     * Each launch method writes its binding's parameters, by kind and name in order, and takes them last, in that
     * order: read from CudaKernels.java, as compiled classes keep no parameter names.
     */
    @Test
    void launchMethodsWriteTheirBindings() throws Exception {
        Map<String, CudaKernels.Kernel> constants = new HashMap<>();
        for (Field f : CudaKernels.class.getDeclaredFields()) {
            if (f.getType() == CudaKernels.Kernel.class && Modifier.isStatic(f.getModifiers())) {
                f.setAccessible(true);
                constants.put(f.getName(), (CudaKernels.Kernel) f.get(null));
            }
        }
        String java = Files.readString(Path.of("src/main/java/dev/nemoh/cuda/CudaKernels.java"));
        Pattern chain = Pattern.compile("begin\\((\\w+)\\)((?:\\s*\\.(?:ptr|i64|i32|f32)\\(\\w+\\))*)\\s*\\.launch\\(");
        Set<String> written = new HashSet<>();
        Matcher method = Pattern.compile("(?s)synchronized void (\\w+)\\(([^)]*)\\) \\{(.*?)\n    }").matcher(java);
        while (method.find()) {
            String name = method.group(1);
            Matcher c = chain.matcher(method.group(3));
            assertTrue(c.find(), name + " writes no launch");
            List<Param> writes = new ArrayList<>();
            Matcher arg = Pattern.compile("\\.(\\w+)\\((\\w+)\\)").matcher(c.group(2));
            while (arg.find()) writes.add(new Param(Kind.valueOf(arg.group(1).toUpperCase(Locale.ROOT)), arg.group(2)));
            List<String> params = Stream.of(method.group(2).split(",")).map(p -> p.strip().split("\\s+")[1]).toList();
            assertEquals(writes.stream().map(Param::name).toList(), params.subList(params.size() - writes.size(), params.size()),
                    name + " takes its arguments in another order than it writes them");
            // a family's method picks its instance (begin(k)) by a switch over the constants
            List<String> kernels = constants.containsKey(c.group(1)) ? List.of(c.group(1))
                    : Pattern.compile("-> (\\w+);").matcher(method.group(3)).results().map(r -> r.group(1)).toList();
            assertTrue(!kernels.isEmpty(), name + " launches no binding");
            for (String k : kernels) {
                assertEquals(constants.get(k).params(), writes, name + " writes other parameters than " + k + " declares");
                written.add(constants.get(k).name());
            }
        }
        assertEquals(new TreeSet<>(SIGNATURES.keySet()), new TreeSet<>(written), "kernels without a launch method");
    }

    @Test
    void macroFamiliesExpandToEachInstance() {
        for (String k : List.of("gemv_bf16_1", "gemv_bf16_2", "attn_decode_partial_1", "attn_decode_partial_2",
                "attn_decode_partial_4", "attn_decode_partial_5", "attn_decode_partial_8")) {
            assertTrue(SIGNATURES.containsKey(k), k);
        }
        assertEquals("[ptr W, ptr x, ptr y, ptr bias, i32 out, i32 in, i32 rows, i32 accumulate, i32 act]",
                SIGNATURES.get("gemv_bf16_2").toString());
        assertEquals(CudaKernels.bindings().size(), SIGNATURES.size(), "one binding per kernel instance");
    }

    @Test
    void parsesKindsLaunchBoundsAndMacros() {
        String source = """
                // extern "C" __global__ void commented_out(int a) {}
                extern "C" __global__ void __launch_bounds__(256) plain(const bf16* __restrict__ W, long n,
                        unsigned seed, float scale, const u64* tables) { begin_kernel(); }
                #define FAMILY(N) \\
                    extern "C" __global__ __launch_bounds__(128, 4) void twice_##N(float* x, int n) { scale<N>(x, n); }
                FAMILY(3)
                FAMILY(5)
                """;
        Map<String, List<Param>> s = KernelSource.signatures(source);
        assertEquals(Set.of("plain", "twice_3", "twice_5"), s.keySet());
        assertEquals("[ptr W, i64 n, i32 seed, f32 scale, ptr tables]", s.get("plain").toString());
        assertEquals("[ptr x, i32 n]", s.get("twice_5").toString());
        CudaException e = assertThrows(CudaException.class,
                () -> KernelSource.signatures("extern \"C\" __global__ void odd(double x) {}"));
        assertTrue(e.getMessage().contains("odd") && e.getMessage().contains("double"), e.getMessage());
    }

    @Test
    void wrongBindingsAreRejected() {
        List<Param> ssmStep = SIGNATURES.get("ssm_step");
        List<Param> swapped = new ArrayList<>(ssmStep);
        Collections.swap(swapped, 2, 3); // projStride and dtOffset: both i32, only the names differ
        assertRejected("ssm_step", swapped, "parameter 3 is i32 projStride, but its binding passes i32 dtOffset");

        List<Param> wrongKind = new ArrayList<>(ssmStep);
        wrongKind.set(16, new Param(Kind.I32, "hi"));
        assertRejected("ssm_step", wrongKind, "parameter 17 is f32 hi, but its binding passes i32 hi");

        assertRejected("ssm_step", ssmStep.subList(0, 16), "f32 hi is missing");
        List<Param> extra = new ArrayList<>(ssmStep);
        extra.add(new Param(Kind.F32, "eps"));
        assertRejected("ssm_step", extra, "f32 eps is extra");

        assertRejected("ssm_stepp", ssmStep, "ssm_stepp is bound but not in the CUDA sources");
    }

    /** What the module load runs: a kernel edited without its binding stops it. */
    @Test
    void aKernelThatDriftsFromItsBindingFailsTheLoadCheck() {
        String before = "ssm_step(const float* xBC, const float* proj, int projStride, int dtOffset,";
        String source = KernelSource.join();
        assertTrue(source.contains(before));
        String edited = source.replace(before, "ssm_step(const float* xBC, const float* proj, int dtOffset, int projStride,");
        CudaException e = assertThrows(CudaException.class, () -> CudaKernels.check(KernelSource.signatures(edited)));
        assertEquals("kernel ssm_step parameter 3 is i32 dtOffset, but its binding passes i32 projStride", e.getMessage());
    }

    private static void assertRejected(String kernel, List<Param> binding, String reason) {
        CudaException e = assertThrows(CudaException.class, () -> KernelSource.check(kernel, binding, SIGNATURES));
        assertTrue(e.getMessage().contains(kernel) && e.getMessage().contains(reason), e.getMessage());
    }

    /** Every source file is joined, and none is over 300 lines. */
    @Test
    void filesAreJoinedAndShort() throws Exception {
        // the source tree, not the classpath: a jar (the GPU kit) cannot be listed, and a build folder keeps stale files
        Path dir = Path.of("src/main/resources/dev/nemoh/cuda");
        try (Stream<Path> files = Files.list(dir)) {
            Set<String> sources = files.map(p -> p.getFileName().toString())
                    .filter(f -> f.endsWith(".cu") || f.endsWith(".cuh")).collect(Collectors.toSet());
            assertEquals(new TreeSet<>(sources), new TreeSet<>(KernelSource.FILES));
        }
        for (String f : KernelSource.FILES) {
            long lines = KernelSource.read(f).lines().count();
            assertTrue(lines <= 300, f + " has " + lines + " lines");
        }
    }

    /**
     * The joined source compiles, with NVRTC's options, when nvcc is on the PATH (no GPU needed): nvcc differs from
     * NVRTC only in the headers it includes by default.
     */
    @Test
    void joinedSourceCompilesWithNvcc(@TempDir Path tmp) throws Exception {
        assumeTrue(Stream.of(System.getenv().getOrDefault("PATH", "").split(File.pathSeparator))
                .anyMatch(d -> Files.isExecutable(Path.of(d, "nvcc"))), "nvcc is not on the PATH");
        Path source = Files.writeString(tmp.resolve("kernels.cu"), KernelSource.join());
        Process nvcc = new ProcessBuilder("nvcc", "--gpu-architecture=sm_90", "-std=c++17", "-cubin", "-o",
                tmp.resolve("kernels.cubin").toString(), source.toString()).redirectErrorStream(true).start();
        String log = new String(nvcc.getInputStream().readAllBytes());
        assertTrue(nvcc.waitFor(5, TimeUnit.MINUTES), "nvcc did not finish");
        assertEquals(0, nvcc.exitValue(), log);
    }
}
