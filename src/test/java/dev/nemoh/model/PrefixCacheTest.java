package dev.nemoh.model;

import dev.nemoh.Fixtures;
import dev.nemoh.Tolerance;
import dev.nemoh.config.KvCacheDtype;
import dev.nemoh.generate.Generation;
import dev.nemoh.generate.SamplingParams;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A prompt that resumes from the prefix cache gets the logits (and the decoding after them) of a prompt prefilled
 * whole, within about ten times the difference measured ({@link Tolerance}); entries of other adapters, KV dtypes or
 * weight formats are never used; the cache never holds more than its bound.
 */
class PrefixCacheTest {
    static final Path TINY = Path.of("models/nemoh-tiny");
    /** Max abs difference of the logits after a hit (and three decode steps) from the whole prompt's, per fixture. */
    static final Map<String, Double> HIT = Tolerance.measured("nemotron-h-tiny", 0.0, "nano-v2-tiny", 0.0, "moe-tiny", 0.0);
    /** The same with boundaries that do not fall on the scan's chunks. */
    static final Map<String, Double> OFF_CHUNKS = Tolerance.measured("nemotron-h-tiny", 1.8e-6, "nano-v2-tiny", 2.4e-6,
            "moe-tiny", 1.7e-6);
    /** The same for nemoh-tiny with a 4,096-token shared system prompt. */
    static final double LONG_HIT = 0.0;

    static String[] models() {
        return Fixtures.ALL;
    }

    static int[] tokens(int n, int vocab, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] t = new int[n];
        for (int i = 0; i < n; i++) t[i] = 3 + r.nextInt(vocab - 3);
        return t;
    }

    /** {@code head} followed by {@code tail} */
    static int[] concat(int[] head, int[] tail) {
        int[] t = Arrays.copyOf(head, head.length + tail.length);
        System.arraycopy(tail, 0, t, head.length, tail.length);
        return t;
    }

    /** Max abs difference between the cached and the uncached run: the prompt's logits, then three decode steps. */
    static double difference(NemotronHModel m, PrefixCache cache, int[] prompt, String adapter, int expectedHit) {
        HybridCache plain = m.newCache(), cached = m.newCache();
        float[] want = m.forwardLast(prompt, plain);
        PrefixCache.Prefill p = cache.prefill(prompt, cached, adapter);
        assertEquals(expectedHit, p.cachedTokens(), "prompt tokens from the cache");
        assertEquals(prompt.length, cached.length());
        double worst = Fixtures.maxAbs(p.logits(), want);
        for (int next : new int[] {5, 9, 3}) {
            worst = Math.max(worst, Fixtures.maxAbs(m.forwardLast(new int[] {next}, cached), m.forwardLast(new int[] {next}, plain)));
        }
        return worst;
    }

    @ParameterizedTest
    @MethodSource("models")
    void hitsGiveTheLogitsOfAWholePrefill(String name) {
        try (NemotronHModel m = NemotronHModel.load(Fixtures.model(name))) {
            int v = m.config().vocabSize;
            PrefixCache cache = new PrefixCache(m, 64L << 20, 16);
            int[] shared = tokens(70, v, 1);
            // a miss stores boundaries 16..96 (98 ≤ 100 − 2); its own logits are those of a whole prefill too
            double worst = difference(m, cache, concat(shared, tokens(30, v, 2)), PrefixCache.NO_ADAPTER, 0);
            // another prompt sharing 70 tokens resumes at 64
            worst = Math.max(worst, difference(m, cache, concat(shared, tokens(12, v, 3)), PrefixCache.NO_ADAPTER, 64));
            // two tokens after boundary 64 (the shortest piece prefilled after it), and one after: then 48
            worst = Math.max(worst, difference(m, cache, Arrays.copyOf(shared, 66), PrefixCache.NO_ADAPTER, 64));
            worst = Math.max(worst, difference(m, cache, Arrays.copyOf(shared, 65), PrefixCache.NO_ADAPTER, 48));
            assertEquals(4, cache.queries());
            assertEquals(64 + 64 + 48, cache.hitTokens());
            Tolerance.check(name + " HIT", worst, Tolerance.of(HIT, name));
        }
    }

    /** Boundaries that do not fall on the scan's chunks (chunk size 16, interval 20) change the float rounding only. */
    @ParameterizedTest
    @MethodSource("models")
    void boundariesOffTheScanChunks(String name) {
        try (NemotronHModel m = NemotronHModel.load(Fixtures.model(name))) {
            int v = m.config().vocabSize;
            PrefixCache cache = new PrefixCache(m, 64L << 20, 20);
            int[] shared = tokens(70, v, 1);
            double worst = difference(m, cache, concat(shared, tokens(30, v, 2)), PrefixCache.NO_ADAPTER, 0);
            worst = Math.max(worst, difference(m, cache, concat(shared, tokens(12, v, 3)), PrefixCache.NO_ADAPTER, 60));
            Tolerance.check(name + " OFF_CHUNKS", worst, Tolerance.of(OFF_CHUNKS, name));
        }
    }

    /** The time step of moe-tiny falls below time_step_min: a one-token piece after a boundary would show it. */
    @Test
    void aBoundaryOneTokenBeforeThePromptsEndIsNotUsed() {
        try (NemotronHModel m = NemotronHModel.load(Fixtures.model("moe-tiny"))) {
            int[] prompt = tokens(33, m.config().vocabSize, 22);
            HybridCache whole = m.newCache(), pieces = m.newCache();
            float[] want = m.forwardLast(prompt, whole);
            m.forwardLast(Arrays.copyOf(prompt, 32), pieces);
            float[] oneTokenPiece = m.forwardLast(new int[] {prompt[32]}, pieces);
            assertTrue(Fixtures.maxAbs(oneTokenPiece, want) > 1e-4, "the decode step's unclamped time step differs");
            PrefixCache cache = new PrefixCache(m, 64L << 20, 16);
            cache.prefill(Arrays.copyOf(prompt, 40), m.newCache(), PrefixCache.NO_ADAPTER); // stores 16 and 32
            PrefixCache.Prefill p = cache.prefill(prompt, m.newCache(), PrefixCache.NO_ADAPTER);
            assertEquals(16, p.cachedTokens());
            Tolerance.check("moe-tiny one token after a boundary", Fixtures.maxAbs(p.logits(), want), Tolerance.of(HIT, "moe-tiny"));
        }
    }

    @Test
    void twoRequestsShareAFourThousandTokenSystemPrompt() {
        try (NemotronHModel m = NemotronHModel.load(TINY)) {
            int v = m.config().vocabSize;
            PrefixCache cache = new PrefixCache(m, 256L << 20, 512);
            int[] system = tokens(4096, v, 5);
            cache.prefill(concat(system, tokens(40, v, 6)), m.newCache(), PrefixCache.NO_ADAPTER);
            int[] second = concat(system, tokens(25, v, 7));
            double worst = difference(m, cache, second, PrefixCache.NO_ADAPTER, 4096);
            assertTrue(cache.hitTokens() >= 4096 - cache.interval());
            Tolerance.check("nemoh-tiny 4K system prompt", worst, LONG_HIT);
        }
    }

    @Test
    void adaptersNeverShareEntries() {
        try (NemotronHModel m = NemotronHModel.load(TINY)) {
            PrefixCache cache = new PrefixCache(m, 64L << 20, 16);
            int[] prompt = tokens(50, m.config().vocabSize, 8);
            assertEquals(0, cache.prefill(prompt, m.newCache(), "A").cachedTokens());
            assertEquals(0, cache.prefill(prompt, m.newCache(), "B").cachedTokens());
            assertEquals(0, cache.prefill(prompt, m.newCache(), PrefixCache.NO_ADAPTER).cachedTokens());
            assertEquals(9, cache.entries()); // three adapters, boundaries 16, 32 and 48
            for (String adapter : new String[] {"A", "B", PrefixCache.NO_ADAPTER}) {
                assertEquals(48, cache.prefill(prompt, m.newCache(), adapter).cachedTokens());
            }
        }
    }

    @Test
    void theKvDtypeAndWeightFormatAreInTheKey() {
        try (NemotronHModel m = NemotronHModel.load(TINY);
             NemotronHModel q8 = NemotronHModel.load(TINY, TimeStepClamp.TRANSFORMERS, WeightFormat.Q8_0)) {
            assertNotEquals(m.stateIdentity(), q8.stateIdentity());
            PrefixCache cache = new PrefixCache(m, 64L << 20, 16);
            int[] prompt = tokens(50, m.config().vocabSize, 9);
            cache.prefill(prompt, m.newCache(), PrefixCache.NO_ADAPTER);
            m.kvCacheDtype(KvCacheDtype.BFLOAT16);
            assertEquals(0, cache.prefill(prompt, m.newCache(), PrefixCache.NO_ADAPTER).cachedTokens());
            HybridCache bf16 = m.newCache();
            PrefixCache.Prefill hit = cache.prefill(prompt, bf16, PrefixCache.NO_ADAPTER);
            assertEquals(48, hit.cachedTokens());
            // bf16 keys and values come back bit for bit: the logits equal those of a whole bf16 prefill but for the
            // float rounding of the pieces
            Tolerance.check("nemoh-tiny bf16 KV", Fixtures.maxAbs(hit.logits(), m.forwardLast(prompt, m.newCache())), LONG_HIT);
        }
    }

    @Test
    void theCacheStaysWithinItsBound() {
        try (NemotronHModel m = NemotronHModel.load(TINY)) {
            int v = m.config().vocabSize;
            long entry = entryBytes(m, 16);
            PrefixCache cache = new PrefixCache(m, 3 * entry + entry / 2, 16);
            int[] prompt = tokens(120, v, 10); // 7 boundaries, room for 3: the chain keeps its first three
            cache.prefill(prompt, m.newCache(), PrefixCache.NO_ADAPTER);
            assertEquals(3, cache.entries());
            assertTrue(cache.bytes() <= cache.maxBytes());
            assertEquals(48, cache.prefill(prompt, m.newCache(), PrefixCache.NO_ADAPTER).cachedTokens());
            for (int i = 0; i < 5; i++) { // other prompts push the least recently used entries out
                cache.prefill(tokens(40, v, 11 + i), m.newCache(), PrefixCache.NO_ADAPTER);
                assertTrue(cache.bytes() <= cache.maxBytes(), cache.bytes() + " > " + cache.maxBytes());
            }
            assertEquals(0, cache.prefill(prompt, m.newCache(), PrefixCache.NO_ADAPTER).cachedTokens());
            PrefixCache tooSmall = new PrefixCache(m, entry - 1, 16);
            tooSmall.prefill(prompt, m.newCache(), PrefixCache.NO_ADAPTER);
            assertEquals(0, tooSmall.entries(), "an entry larger than the bound is not stored");
            assertEquals(0, tooSmall.bytes());
        }
    }

    /** Bytes of one entry: the interval's tokens, every Mamba layer's states and the interval's float32 KV rows. */
    static long entryBytes(NemotronHModel m, int interval) {
        var c = m.config();
        long bytes = interval * 4L;
        for (var t : c.layers) {
            if (t == dev.nemoh.config.LayerType.MAMBA) {
                bytes += 4L * (c.convDim() * c.convKernel + (long) c.mambaNumHeads * c.mambaHeadDim * c.ssmStateSize);
            } else if (t == dev.nemoh.config.LayerType.ATTENTION) {
                bytes += 2L * 4 * interval * c.numKeyValueHeads * c.headDim;
            }
        }
        return bytes;
    }

    @Test
    void generationWithTheCacheChoosesTheSameTokens() {
        try (NemotronHModel m = NemotronHModel.load(TINY)) {
            PrefixCache cache = new PrefixCache(m, 64L << 20, 16);
            int[] prompt = tokens(60, m.config().vocabSize, 20);
            SamplingParams greedy = SamplingParams.greedy().withMaxTokens(12);
            for (int round = 0; round < 2; round++) {
                Generation plain = new Generation(m, prompt, greedy), cached = new Generation(m, prompt, greedy, cache, "none");
                assertEquals(round == 0 ? 0 : 48, cached.cachedTokens());
                for (int i = 0; i < 12; i++) assertEquals(plain.next(), cached.next(), "token " + i);
            }
        }
    }

    @Test
    void badUsesAreRefused() {
        try (NemotronHModel m = NemotronHModel.load(TINY)) {
            assertThrows(IllegalArgumentException.class, () -> new PrefixCache(m, 0, 16));
            assertThrows(IllegalArgumentException.class, () -> new PrefixCache(m, 1 << 20, 1));
            PrefixCache cache = new PrefixCache(m, 1 << 20, 16);
            HybridCache used = m.newCache();
            m.forwardLast(new int[] {4, 5}, used);
            var e = assertThrows(IllegalArgumentException.class, () -> cache.prefill(new int[] {4}, used, "none"));
            assertTrue(e.getMessage().contains("empty state"), e.getMessage());
        }
    }
}
