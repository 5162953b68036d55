package dev.nemoh.cuda;

import dev.nemoh.cuda.KernelSource.Kind;
import dev.nemoh.cuda.KernelSource.Param;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
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

    @Test
    void macroFamiliesExpandToEachInstance() {
        for (String k : List.of("gemv_bf16_1", "gemv_bf16_2", "attn_decode_partial_1", "attn_decode_partial_2",
                "attn_decode_partial_4", "attn_decode_partial_8")) {
            assertTrue(SIGNATURES.containsKey(k), k);
        }
        assertEquals("[ptr W, ptr x, ptr y, ptr bias, i32 out, i32 in, i32 rows, i32 accumulate, i32 act]",
                SIGNATURES.get("gemv_bf16_2").toString());
        assertEquals(32, SIGNATURES.size());
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

    private static void assertRejected(String kernel, List<Param> binding, String reason) {
        CudaException e = assertThrows(CudaException.class, () -> KernelSource.check(kernel, binding, SIGNATURES));
        assertTrue(e.getMessage().contains(kernel) && e.getMessage().contains(reason), e.getMessage());
    }

    /** Every source file is joined, and none is over 300 lines. */
    @Test
    void filesAreJoinedAndShort() throws Exception {
        Path dir = Path.of(CudaKernels.class.getResource("common.cuh").toURI()).getParent();
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
