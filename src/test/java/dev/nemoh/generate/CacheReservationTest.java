package dev.nemoh.generate;

import dev.nemoh.config.KvCacheDtype;
import dev.nemoh.config.NemotronHConfig;
import dev.nemoh.model.HybridCache;
import dev.nemoh.model.NemotronHModel;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The server reserves a sequence's cache at prompt + max tokens ({@link NemotronHModel#cacheBytes}); the cache a
 * generation allocates must never be larger, whatever the lengths (the KV cache grows by doubling, clamped there).
 */
class CacheReservationTest {
    /** The bytes of arrays the cache holds, as allocated (not as used). */
    static long allocatedBytes(HybridCache cache, NemotronHConfig c) {
        long bytes = 0;
        for (int i = 0; i < c.numLayers(); i++) {
            if (cache.layer(i) instanceof HybridCache.MambaState m) {
                bytes += 4L * (m.conv.length + m.ssm.length);
            } else if (cache.layer(i) instanceof HybridCache.KvCache kv) {
                for (int h = 0; h < c.numKeyValueHeads; h++) {
                    bytes += kv.dtype == KvCacheDtype.FLOAT32
                            ? 4L * (kv.keysValues.keys()[h].length + kv.keysValues.values()[h].length)
                            : 2L * (kv.keysValues.keysBf16()[h].length + kv.keysValues.valuesBf16()[h].length);
                }
            }
        }
        return bytes;
    }

    @ParameterizedTest
    @CsvSource({"5, 1, FLOAT32", "5, 20, FLOAT32", "5, 11, BFLOAT16", "30, 7, FLOAT32", "3, 100, FLOAT32", "40, 300, BFLOAT16"})
    void theCacheNeverOutgrowsItsReservation(int promptTokens, int maxTokens, KvCacheDtype dtype) {
        try (NemotronHModel m = NemotronHModel.load(Path.of("models/nemoh-tiny"))) {
            m.kvCacheDtype(dtype);
            int[] prompt = new int[promptTokens];
            for (int i = 0; i < prompt.length; i++) prompt[i] = 3 + i % 200;
            Generation g = new Generation(m, prompt, SamplingParams.greedy().withMaxTokens(maxTokens));
            while (!g.done()) g.next();
            assertEquals(maxTokens, g.generated());
            long reserved = m.cacheBytes(promptTokens + maxTokens);
            long allocated = allocatedBytes((HybridCache) g.state(), m.config());
            assertTrue(allocated <= reserved, "allocated " + allocated + " bytes, reserved " + reserved);
        }
    }
}
