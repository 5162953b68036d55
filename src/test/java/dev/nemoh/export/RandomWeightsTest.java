package dev.nemoh.export;

import dev.nemoh.model.NemotronHModel;
import dev.nemoh.Fixtures;
import dev.nemoh.config.NemotronHConfig;
import dev.nemoh.io.Checkpoint;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RandomWeightsTest {
    static final NemotronHConfig SMALL = NemotronHConfig.builder()
            .vocabSize(97).hiddenSize(48).pattern("M-*EM")
            .attentionHeads(4, 2, 12).intermediateSize(64)
            .mamba(6, 8, 8, 2).chunkSize(8)
            .moe(4, 2, 16, 24).moeRouting(2, 1, true, 1.5)
            .build();

    @Test
    void writesACheckpointThatLoadsRunsAndMatchesItsCount(@TempDir Path tmp) {
        RandomWeights.write(SMALL, tmp.resolve("a"), 42);
        long stored;
        try (Checkpoint ckpt = Checkpoint.open(tmp.resolve("a"))) {
            stored = ckpt.names().stream().filter(n -> !n.endsWith("e_score_correction_bias"))
                    .mapToLong(n -> ckpt.get(n).numel()).sum();
        }
        assertEquals(SMALL.paramCount(), stored);
        try (NemotronHModel m = NemotronHModel.load(tmp.resolve("a"))) {
            float[] logits = m.forward(new int[] {1, 2, 3, 50, 96}, null);
            for (float v : logits) assertTrue(Float.isFinite(v));
            assertEquals(5 * 97, logits.length);
        }
    }

    @Test
    void sameSeedSameWeightsOtherSeedOtherWeights(@TempDir Path tmp) {
        RandomWeights.write(SMALL, tmp.resolve("a"), 1);
        RandomWeights.write(SMALL, tmp.resolve("b"), 1);
        RandomWeights.write(SMALL, tmp.resolve("c"), 2);
        try (Checkpoint a = Checkpoint.open(tmp.resolve("a")); Checkpoint b = Checkpoint.open(tmp.resolve("b"));
             Checkpoint c = Checkpoint.open(tmp.resolve("c"))) {
            String name = "backbone.layers.0.mixer.in_proj.weight";
            assertArrayEquals(a.get(name).toFloatArray(), b.get(name).toFloatArray());
            assertTrue(Fixtures.maxAbs(a.get(name).toFloatArray(), c.get(name).toFloatArray()) > 0.01);
            float[] w = a.get(name).toFloatArray();
            double sum = 0, sq = 0;
            for (float v : w) { sum += v; sq += v * v; }
            double mean = sum / w.length, std = Math.sqrt(sq / w.length - mean * mean);
            assertEquals(0.0, mean, 0.002);
            assertEquals(0.02, std, 0.002); // transformers' initializer_range
            assertArrayEquals(new float[] {0f, (float) Math.log(2), (float) Math.log(3)},
                    java.util.Arrays.copyOf(a.get("backbone.layers.0.mixer.A_log").toFloatArray(), 3), 0.01f);
        }
    }
}
