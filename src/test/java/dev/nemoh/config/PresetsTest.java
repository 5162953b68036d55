package dev.nemoh.config;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Parameter counts of the presets against the published totals. */
class PresetsTest {
    @Test
    void exactPublishedCounts() {
        // transformers' NemotronHForCausalLM(config).num_parameters() for nvidia/Nemotron-H-8B-Base-8K
        assertEquals(8_100_852_736L, Presets.get("nemotron-h-8b").paramCount());
        // safetensors metadata "total" of nvidia/NVIDIA-Nemotron-Nano-9B-v2 (revision 6533e8de)
        assertEquals(8_888_227_328L, Presets.get("nemotron-nano-9b-v2").paramCount());
        // model.safetensors.index.json metadata total_parameters of nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16
        assertEquals(31_577_937_344L, Presets.get("nemotron-3-nano-30b-a3b").paramCount());
    }

    @Test
    void countsAgreeWithRoundedPublishedFigures() {
        // model cards give rounded totals: 4B (4.49B summed over its safetensors headers), 47B, 56B, 12.31B
        assertEquals(4_489_223_040L, Presets.get("nemotron-h-4b").paramCount());
        assertEquals(46_791_554_816L, Presets.get("nemotron-h-47b").paramCount());
        assertEquals(56_324_350_464L, Presets.get("nemotron-h-56b").paramCount());
        assertEquals(12_310_001_152L, Presets.get("nemotron-nano-12b-v2").paramCount());
        assertEquals(4.49e9, Presets.get("nemotron-h-4b").paramCount(), 0.005e9);
        assertEquals(12.31e9, Presets.get("nemotron-nano-12b-v2").paramCount(), 0.005e9);
    }

    @Test
    void layerCountsMatchTheModelCards() {
        NemotronHConfig c56 = Presets.get("nemotron-h-56b");
        assertEquals(118, c56.numLayers());
        assertEquals(54, c56.count(LayerType.MAMBA));
        assertEquals(10, c56.count(LayerType.ATTENTION)); // "54 Mamba-2, 54 MLP, and 10 Self-Attention layers"
        NemotronHConfig nano3 = Presets.get("nemotron-3-nano-30b-a3b");
        assertEquals(23, nano3.count(LayerType.MOE));
        // "3.2B active (3.6B including embeddings)": active = all but the 122 unused routed experts per MoE layer
        assertEquals(3.6e9, nano3.activeParamCount(), 0.1e9);
    }

    @Test
    void memoryEstimates() {
        NemotronHConfig c8 = Presets.get("nemotron-h-8b");
        assertEquals(2 * 8_100_852_736L, c8.weightBytes(WeightPrecision.BF16));
        assertTrue(c8.weightBytes(WeightPrecision.Q4_0) < c8.weightBytes(WeightPrecision.Q8_0));
        // fixed Mamba state plus 4 attention layers × 2 × 8 kv heads × 128 × 4 bytes per token
        long perToken = 4L * 2 * 8 * 128 * 4;
        assertEquals(perToken * 1000, c8.cacheBytes(2000, 4) - c8.cacheBytes(1000, 4));
        // a bf16 KV cache: half the bytes per token, the same Mamba state
        assertEquals(perToken / 2 * 1000, c8.cacheBytes(2000, 2) - c8.cacheBytes(1000, 2));
        assertEquals(c8.cacheBytes(0, 4), c8.cacheBytes(0, 2));
    }

    @Test
    void unknownPresetNamesTheAvailableOnes() {
        var e = assertThrows(ConfigException.class, () -> Presets.get("nemotron-h-9000b"));
        assertTrue(e.getMessage().contains("nemotron-h-8b"), e.getMessage());
    }
}
