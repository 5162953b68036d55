package dev.nemoh.cuda;

import dev.nemoh.Fixtures;
import dev.nemoh.cli.Main;
import dev.nemoh.model.LanguageModel;
import dev.nemoh.model.LanguageModel.SequenceState;
import dev.nemoh.model.NemotronHModel;
import dev.nemoh.model.PrefixCache;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The prefix cache on cuda (on the GPU, or on the CPU emulator of the CUDA stack): snapshots are device-to-device
 * copies, so a prompt that resumes from them gets the very logits its first, storing prefill got, and is as close to
 * the float32 CPU model as an uncached cuda prefill, within the bf16 bound of the fixture tests
 * ({@link CudaForwardFixtureTest#REL}); snapshots
 * give their device memory back when evicted; {@code bench-serve --chat-history} runs with {@code --device cuda}.
 */
class CudaPrefixCacheTest {
    @BeforeAll
    static void gpu() {
        TestDevice.cuda();
    }

    static String[] models() {
        return Fixtures.ALL;
    }

    static int[] tokens(int n, int vocab, long seed) {
        return new SplittableRandom(seed).ints(n, 3, vocab).toArray();
    }

    static int[] concat(int[] head, int[] tail) {
        int[] t = Arrays.copyOf(head, head.length + tail.length);
        System.arraycopy(tail, 0, t, head.length, tail.length);
        return t;
    }

    /**
     * A prompt through the cache and uncached, then three decode steps, each against the float32 CPU model: returns
     * the worst relative difference ({@link Fixtures#relative}) of the cached run from the CPU model beyond that of
     * the uncached cuda run (0 when the cached run is as close); when {@code sameRows}, the cached and uncached cuda
     * logits must also agree within {@link CudaForwardFixtureTest#REL}.
     */
    static double excess(CudaModel m, NemotronHModel cpu, PrefixCache cache, int[] prompt, int expectedHit, boolean sameRows) {
        SequenceState plain = m.newState(), cached = m.newState();
        LanguageModel.SequenceState reference = cpu.newState();
        float[] want = m.forwardLast(prompt, plain);
        PrefixCache.Prefill p = cache.prefill(prompt, cached, PrefixCache.NO_ADAPTER);
        assertEquals(expectedHit, p.cachedTokens(), "prompt tokens from the cache");
        assertEquals(prompt.length, cached.length());
        float[] got = p.logits(), ref = cpu.forwardLast(prompt, reference);
        double worst = 0;
        for (int step = 0; step < 4; step++) {
            if (step > 0) {
                int next = new int[] {5, 9, 3}[step - 1];
                got = m.forwardLast(new int[] {next}, cached);
                want = m.forwardLast(new int[] {next}, plain);
                ref = cpu.forwardLast(new int[] {next}, reference);
            }
            double hit = Fixtures.relative(got, Fixtures.widen(ref)), whole = Fixtures.relative(want, Fixtures.widen(ref));
            worst = Math.max(worst, hit - whole);
            if (sameRows) {
                double rel = Fixtures.relative(got, Fixtures.widen(want));
                assertTrue(rel < CudaForwardFixtureTest.REL, "step " + step + ": cached vs uncached rel " + rel);
            }
        }
        return worst;
    }

    /**
     * A hit resumes from device copies of the states the storing prefill left, so the same prompt again gets its
     * logits bit for bit. Against an uncached cuda prefill, the pieces after the restored prefix are the only
     * difference: rows of more than two tokens go through the same cuBLAS products (agreeing within the bf16 bound),
     * while a last piece of two tokens takes the float32 GEMV path, which is closer to the CPU model; so each hit is
     * checked to be no further from the float32 CPU model than the uncached cuda prefill, plus the bf16 bound.
     */
    @ParameterizedTest
    @MethodSource("models")
    void hitsAreTheStoringPrefillsStatesAndAsCloseToTheCpuModelAsAnUncachedPrefill(String name) {
        try (CudaModel m = CudaModel.load(Fixtures.model(name)); NemotronHModel cpu = NemotronHModel.load(Fixtures.model(name))) {
            int v = m.config().vocabSize;
            PrefixCache cache = new PrefixCache(m, 64L << 20, 16);
            int[] shared = tokens(70, v, 1), first = concat(shared, tokens(30, v, 2));
            // a miss stores boundaries 16..96; the same prompt again resumes at 96 and runs the same last piece
            float[] stored = cache.prefill(first, m.newState(), PrefixCache.NO_ADAPTER).logits();
            PrefixCache.Prefill again = cache.prefill(first, m.newState(), PrefixCache.NO_ADAPTER);
            assertEquals(96, again.cachedTokens());
            assertArrayEquals(stored, again.logits(), "restored device copies are the states the prefill left");
            double worst = excess(m, cpu, cache, concat(shared, tokens(12, v, 3)), 64, true);
            worst = Math.max(worst, excess(m, cpu, cache, Arrays.copyOf(shared, 65), 48, true));
            worst = Math.max(worst, excess(m, cpu, cache, Arrays.copyOf(shared, 66), 64, false)); // a two-token last piece
            System.out.printf("cuda prefix cache %s: hits' rel difference from the cpu model beyond the uncached prefill's: %.3g%n",
                    name, worst);
            assertTrue(worst < CudaForwardFixtureTest.REL, name + ": a hit is further from the cpu model by rel " + worst);
            assertEquals(5, cache.queries());
            assertEquals(96 + 64 + 48 + 64, cache.hitTokens());
            assertTrue(cache.bytes() > 0 && cache.bytes() <= cache.maxBytes());
        }
    }

    @Test
    void snapshotsHoldDeviceMemoryUntilReleasedAndTheCacheStaysWithinItsBound() {
        Cuda cuda = TestDevice.cuda();
        try (CudaModel m = CudaModel.load(Fixtures.model("nano-v2-tiny"))) {
            int v = m.config().vocabSize;
            SequenceState s = m.newState();
            m.forwardLast(tokens(40, v, 4), s);
            // counted by the budget through which every device allocation goes (a GPU's allocator serves small
            // buffers from pooled pages, so the driver's free memory need not move)
            long before = cuda.memory.used(GpuMemory.Part.PREFIX_CACHE);
            LanguageModel.StateSnapshot snap = m.snapshot(s, 16, 40);
            long during = cuda.memory.used(GpuMemory.Part.PREFIX_CACHE);
            assertEquals(snap.bytes(), during - before, "the snapshot's " + snap.bytes() + " bytes are on the device");
            snap.release();
            assertEquals(before, cuda.memory.used(GpuMemory.Part.PREFIX_CACHE), "and given back when released");

            // room for about three entries of 16 tokens: older prompts' entries are evicted (and freed) for newer ones
            long entry = m.snapshot(s, 24, 40).bytes() + 16 * Integer.BYTES;
            PrefixCache cache = new PrefixCache(m, 3 * entry + entry / 2, 16);
            for (int k = 0; k < 4; k++) {
                cache.prefill(tokens(50, v, 10 + k), m.newState(), PrefixCache.NO_ADAPTER);
                assertTrue(cache.bytes() <= cache.maxBytes(), cache.bytes() + " > " + cache.maxBytes());
            }
            assertEquals(3, cache.entries());
            // the last prompt's chain is whole, so it hits in full
            assertEquals(48, cache.prefill(tokens(50, v, 13), m.newState(), PrefixCache.NO_ADAPTER).cachedTokens());
        }
    }

    /**
     * A snapshot that --gpu-memory cannot hold leaves the entry out; the request's logits are those the same pieces
     * give with room for the snapshots.
     */
    @Test
    void aSnapshotTheBudgetCannotHoldCostsTheCacheNotTheRequest() {
        Cuda cuda = TestDevice.cuda();
        try (CudaModel m = CudaModel.load(Fixtures.model("nano-v2-tiny"))) {
            int[] prompt = tokens(50, m.config().vocabSize, 21);
            float[] plain = new PrefixCache(m, 1 << 20, 16).prefill(prompt, m.newState(), PrefixCache.NO_ADAPTER).logits();
            PrefixCache cache = new PrefixCache(m, 1 << 20, 16);
            SequenceState s = m.newState();
            long held = 0;
            for (GpuMemory.Part p : GpuMemory.Part.values()) held += cuda.memory.used(p);
            long[] info = cuda.memoryInfo();
            cuda.memory.limit(held + Math.max(0, info[1] - info[0] - held) + 256, "--gpu-memory 0.001");
            try {
                float[] got = cache.prefill(prompt, s, PrefixCache.NO_ADAPTER).logits();
                assertArrayEquals(plain, got);
                assertEquals(0, cache.entries());
            } finally {
                cuda.memory.unlimited();
            }
        }
    }

    @Test
    void benchServeChatHistoryRunsOnCuda() {
        PrintStream old = System.out;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int code;
        long start = System.nanoTime();
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            code = Main.run("bench-serve", "--model", "models/nemoh-tiny", "--device", "cuda", "--chat-history", "120",
                    "--prefix-cache-mib", "64", "--prefix-cache-interval", "32", "--max-tokens", "2");
        } finally {
            System.setOut(old);
        }
        String text = out.toString(StandardCharsets.UTF_8);
        System.out.print(text);
        System.out.printf("bench-serve --chat-history on the cuda backend: %.1f s%n", (System.nanoTime() - start) / 1e9);
        assertEquals(0, code, text);
        Matcher on = Pattern.compile("on \\(64 MiB, every 32\\)\\s+([\\d,]+)\\s+([\\d,]+)\\s+([\\d,]+)").matcher(text);
        assertTrue(on.find(), text);
        int history = Integer.parseInt(on.group(1).replace(",", "")), cached = Integer.parseInt(on.group(3).replace(",", ""));
        assertTrue(history >= 120 && cached >= history - 32 - 32, "turn 2 resumes from the history: " + text);
        assertTrue(text.contains("lower with the prefix cache"), text);
    }
}
