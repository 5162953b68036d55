package dev.nemoh.model;

import dev.nemoh.Fixtures;
import dev.nemoh.Tolerance;
import dev.nemoh.config.KvCacheDtype;
import dev.nemoh.io.SafetensorsFile;
import dev.nemoh.kernels.Vec;
import org.junit.jupiter.api.Test;

import java.util.Locale;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The KV cache's storage precision on the fixtures: the prompt decoded a token at a time (every attention step reads
 * the cache) against the reference's float64 logits. The printed lines are the measurements in docs/PERFORMANCE.md.
 */
class KvCacheDtypeTest {
    record Error(double relative, double top1) {}

    static Error decode(String fixture, KvCacheDtype dtype) {
        try (SafetensorsFile ref = Fixtures.reference(fixture);
             NemotronHModel m = NemotronHModel.load(Fixtures.model(fixture)).kvCacheDtype(dtype)) {
            int[] ids = Fixtures.ids(ref.get("input_ids"));
            double[] expected = ref.get("logits_f64").toDoubleArray();
            int vocab = m.config.vocabSize;
            float[] logits = new float[ids.length * vocab];
            LanguageModel.SequenceState state = m.newState();
            for (int t = 0; t < ids.length; t++) System.arraycopy(m.forwardLast(new int[] {ids[t]}, state), 0, logits, t * vocab, vocab);
            int same = 0;
            for (int t = 0; t < ids.length; t++) {
                int best = 0;
                for (int i = 1; i < vocab; i++) if (expected[t * vocab + i] > expected[t * vocab + best]) best = i;
                if (Vec.argmax(logits, t * vocab, vocab) == best) same++;
            }
            Error e = new Error(Fixtures.relative(logits, expected), same / (double) ids.length);
            System.out.printf(Locale.ROOT, "%s KV cache %s, decoded: rel %.3g, top-1 %.1f%%%n", fixture, dtype.label(), e.relative, 100 * e.top1);
            return e;
        }
    }

    /** Relative error of the float32 cache's decoded logits, as measured per fixture; bounds are about ten times these. */
    static final java.util.Map<String, Double> FLOAT32_CACHE = Tolerance.measured("nemotron-h-tiny", 4.3e-5, "nano-v2-tiny", 5.9e-7, "moe-tiny", 7.3e-7);

    @Test
    void bf16CacheStaysCloseToTheReference() {
        for (String f : Fixtures.ALL) {
            Error exact = decode(f, KvCacheDtype.FLOAT32);
            Error bf16 = decode(f, KvCacheDtype.BFLOAT16);
            // token by token through the Mamba recurrence, whose decode step skips transformers' dt clamp as the
            // reference's own decode does (nemotron-h-tiny's prompt meets the clamp: its error is the largest)
            Tolerance.check(f + " FLOAT32_CACHE", exact.relative, Tolerance.of(FLOAT32_CACHE, f));
            // bf16 keeps the bound its docs state; measured (2026-11-23): rel 6.2e-4 (nemotron-h-tiny), 6.3e-4
            // (nano-v2-tiny), 3.7e-4 (moe-tiny), top-1 100% on all three
            assertTrue(bf16.relative < 3e-3, f + " bf16 cache " + bf16);
            assertEquals(1.0, bf16.top1, f + " bf16 cache " + bf16);
            // a cache that ignored the setting would be exact
            assertTrue(bf16.relative > 10 * exact.relative, f + ": the bf16 cache rounds nothing? " + bf16 + " vs " + exact);
        }
    }

    @Test
    void parse() {
        assertEquals(KvCacheDtype.BFLOAT16, KvCacheDtype.parse("auto", true));
        assertEquals(KvCacheDtype.FLOAT32, KvCacheDtype.parse("auto", false));
        assertEquals(KvCacheDtype.FLOAT32, KvCacheDtype.parse("float32", true));
        assertEquals(KvCacheDtype.BFLOAT16, KvCacheDtype.parse("BF16", false));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> KvCacheDtype.parse("fp8", false));
        assertTrue(e.getMessage().contains("auto, float32 or bfloat16"), e.getMessage());
    }

    @Test
    void cacheBytesFollowTheDtype() {
        try (NemotronHModel m = NemotronHModel.load(Fixtures.model("nemotron-h-tiny"))) {
            long f32 = m.cacheBytes(1000) - m.cacheBytes(0);
            m.kvCacheDtype(KvCacheDtype.BFLOAT16);
            assertEquals(f32 / 2, m.cacheBytes(1000) - m.cacheBytes(0));
        }
    }
}
