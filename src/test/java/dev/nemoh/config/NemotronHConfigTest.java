package dev.nemoh.config;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.util.RawValue;
import dev.nemoh.Fixtures;
import dev.nemoh.io.Checkpoint;
import dev.nemoh.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.function.Executable;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Consumer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** config.json parsing in both forms, validation messages, derived sizes and parameter counts. */
class NemotronHConfigTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    // ---------------------------------------------------------------- fixtures (current transformers form)

    @Test
    void nemotronHTinyParses() {
        NemotronHConfig c = NemotronHConfig.load(Fixtures.model("nemotron-h-tiny"));
        // layers_block_type: linear_attention, mlp, linear_attention, full_attention, mlp, linear_attention, mlp,
        // linear_attention, mlp, full_attention, mlp
        assertEquals("M-M*-M-M-*-", c.pattern());
        assertEquals(11, c.numLayers());
        assertEquals(4, c.count(LayerType.MAMBA));
        assertEquals(2, c.count(LayerType.ATTENTION));
        assertEquals(5, c.count(LayerType.MLP));
        assertEquals(320, c.vocabSize);
        assertEquals(64, c.hiddenSize);
        assertEquals(4, c.numAttentionHeads);
        assertEquals(2, c.numKeyValueHeads);
        assertEquals(16, c.headDim);
        assertEquals(128, c.intermediateSize);
        assertEquals(8, c.mambaNumHeads);
        assertEquals(16, c.mambaHeadDim);
        assertEquals(16, c.ssmStateSize);
        assertEquals(2, c.nGroups);
        assertEquals(4, c.convKernel);
        assertEquals(16, c.chunkSize);
        assertEquals(128, c.mambaIntermediateSize());
        assertEquals(128 + 2 * 2 * 16, c.convDim());
        assertEquals(192, c.convDim());
        assertEquals(328, c.inProjSize());
        assertEquals(1e-5, c.layerNormEpsilon);
        assertFalse(c.tieWordEmbeddings);
        assertEquals(0.0, c.timeStepLimitLow);
        assertEquals(Double.POSITIVE_INFINITY, c.timeStepLimitHigh);
        assertEquals(0.001, c.timeStepMin);
        assertEquals(0.1, c.timeStepMax);
        assertEquals(1e-4, c.timeStepFloor);
        assertEquals(List.of(2), c.eosTokenIds);
        assertEquals(0, c.moeLatentSize, "moe_latent_size: null means no latent projection");
    }

    @Test
    void nanoV2TinyParses() {
        NemotronHConfig c = NemotronHConfig.load(Fixtures.model("nano-v2-tiny"));
        assertEquals("M-M*-MM-M*-", c.pattern());
        assertEquals(300, c.vocabSize);
        assertEquals(80, c.hiddenSize);
        assertEquals(5, c.numAttentionHeads);
        assertEquals(1, c.numKeyValueHeads);
        assertEquals(16, c.headDim);
        assertEquals(6, c.mambaNumHeads);
        assertEquals(20, c.mambaHeadDim);
        assertEquals(3, c.nGroups);
        assertEquals(8, c.ssmStateSize);
        assertEquals(120 + 2 * 3 * 8, c.convDim());
        assertEquals(120 + 168 + 6, c.inProjSize());
        assertTrue(c.tieWordEmbeddings);
        assertEquals(Double.POSITIVE_INFINITY, c.timeStepLimitHigh);
    }

    @Test
    void moeTinyParses() {
        NemotronHConfig c = NemotronHConfig.load(Fixtures.model("moe-tiny"));
        assertEquals("ME*EM-E", c.pattern());
        assertEquals(3, c.count(LayerType.MOE));
        assertEquals(6, c.nRoutedExperts);
        assertEquals(2, c.numExpertsPerTok);
        assertEquals(32, c.moeIntermediateSize);
        assertEquals(48, c.moeSharedExpertIntermediateSize);
        assertEquals(1, c.nSharedExperts);
        assertEquals(1, c.nGroup);
        assertEquals(1, c.topkGroup);
        assertTrue(c.normTopkProb);
        assertEquals(2.5, c.routedScalingFactor);
        assertEquals(0, c.moeLatentSize);
        assertEquals(192, c.convDim());
        assertEquals(328, c.inProjSize());
    }

    @Test
    void derivedSizesMatchTheFixtureTensors() {
        for (String name : Fixtures.ALL) {
            NemotronHConfig c = NemotronHConfig.load(Fixtures.model(name));
            try (Checkpoint ckpt = Checkpoint.open(Fixtures.model(name))) {
                Tensor inProj = ckpt.get("backbone.layers.0.mixer.in_proj.weight");
                assertEquals(c.inProjSize(), inProj.dim(0), name + " in_proj rows");
                assertEquals(c.hiddenSize, inProj.dim(1), name + " in_proj columns");
                Tensor conv = ckpt.get("backbone.layers.0.mixer.conv1d.weight");
                assertEquals(c.convDim(), conv.dim(0), name + " conv1d channels");
                assertEquals(c.convKernel, conv.dim(2), name + " conv1d kernel");
                assertEquals(c.mambaIntermediateSize(), ckpt.get("backbone.layers.0.mixer.norm.weight").dim(0), name);
            }
        }
        try (Checkpoint ckpt = Checkpoint.open(Fixtures.model("nemotron-h-tiny"))) {
            assertEquals(328, ckpt.get("backbone.layers.0.mixer.in_proj.weight").dim(0));
        }
    }

    // ---------------------------------------------------------------- parameter counts

    /** Sum of numel over the checkpoint, less the MoE routers' e_score_correction_bias (a buffer in transformers). */
    private static long transformersParamCount(String fixture) {
        long sum = 0;
        try (Checkpoint ckpt = Checkpoint.open(Fixtures.model(fixture))) {
            for (String name : ckpt.names()) {
                if (name.endsWith(".gate.e_score_correction_bias")) continue;
                sum += ckpt.get(name).numel();
            }
        }
        return sum;
    }

    private static long tensorSum(String fixture) {
        long sum = 0;
        try (Checkpoint ckpt = Checkpoint.open(Fixtures.model(fixture))) {
            for (String name : ckpt.names()) sum += ckpt.get(name).numel();
        }
        return sum;
    }

    @Test
    void paramCountOfNemotronHTinyIsItsTensorSum() {
        assertEquals(269_408L, tensorSum("nemotron-h-tiny"));
        assertEquals(269_408L, NemotronHConfig.load(Fixtures.model("nemotron-h-tiny")).paramCount());
    }

    @Test
    void paramCountOfMoeTinyLeavesOutTheCorrectionBiasBuffers() {
        NemotronHConfig c = NemotronHConfig.load(Fixtures.model("moe-tiny"));
        // 3 MoE layers × 6 experts of e_score_correction_bias are stored but are buffers, not parameters
        assertEquals(211_778L, tensorSum("moe-tiny"));
        assertEquals(211_778L - 3 * 6, transformersParamCount("moe-tiny"));
        assertEquals(transformersParamCount("moe-tiny"), c.paramCount());
        assertEquals(211_760L, c.paramCount());
        // top-2 of 6 experts per token: 4 unused experts × (up + down) × 3 layers
        assertEquals(211_760L - 3L * 4 * 2 * 64 * 32, c.activeParamCount());
    }

    /**
     * nano-v2-tiny sets tie_word_embeddings = true but stores its own lm_head.weight, which transformers' NemotronH
     * never ties ({@code _tied_weights_keys = {}}): its {@code parameters()} hold 311,610 values, the full tensor sum.
     */
    @Test
    void paramCountOfNanoV2TinyCountsTheStoredLmHeadDespiteTheTieFlag() {
        NemotronHConfig c = NemotronHConfig.load(Fixtures.model("nano-v2-tiny"));
        long stored = transformersParamCount("nano-v2-tiny");
        assertEquals(311_610L, stored);
        long lmHead;
        try (Checkpoint ckpt = Checkpoint.open(Fixtures.model("nano-v2-tiny"))) {
            lmHead = ckpt.get("lm_head.weight").numel();
        }
        assertEquals(300L * 80, lmHead);
        // transformers keeps lm_head as its own parameter whatever tie_word_embeddings says
        assertEquals(stored, c.paramCount());
        assertEquals(stored, c.toBuilder().tieWordEmbeddings(false).build().paramCount());
    }

    @Test
    void paramCountByTypeAddsUpToTheBlocks() {
        NemotronHConfig c = NemotronHConfig.load(Fixtures.model("nemotron-h-tiny"));
        long blocks = c.paramCountByType().values().stream().mapToLong(Long::longValue).sum();
        assertEquals(c.paramCount() - 2L * 320 * 64 - 64, blocks);
        // one MLP block: norm 64 + up 128×64 + down 64×128
        assertEquals(64 + 2L * 128 * 64, c.blockParamCount(LayerType.MLP));
        // one attention block: norm + q (64×64) + k, v (32×64 each) + o (64×64)
        assertEquals(64 + 64L * 64 + 2L * 32 * 64 + 64L * 64, c.blockParamCount(LayerType.ATTENTION));
    }

    // ---------------------------------------------------------------- legacy form

    private static final String LEGACY = """
            {
              "architectures": ["NemotronHForCausalLM"],
              "model_type": "nemotron_h",
              "vocab_size": 320,
              "hidden_size": 64,
              "hybrid_override_pattern": "M-M*-",
              "num_hidden_layers": 5,
              "num_attention_heads": 4,
              "num_key_value_heads": 2,
              "attention_head_dim": 24,
              "intermediate_size": 128,
              "mamba_num_heads": 8,
              "mamba_head_dim": 16,
              "ssm_state_size": 16,
              "mamba_n_groups": 2,
              "mamba_d_conv": 3,
              "mamba_expand": 3,
              "mamba_chunk_size": 32,
              "mamba_dt_limit": [0.0, Infinity],
              "rms_norm_eps": 1e-06,
              "tie_word_embeddings": false,
              "eos_token_id": [2, 11]
            }
            """;

    private static final String CURRENT = """
            {
              "architectures": ["NemotronHForCausalLM"],
              "model_type": "nemotron_h",
              "vocab_size": 320,
              "hidden_size": 64,
              "layers_block_type": ["linear_attention", "mlp", "linear_attention", "full_attention", "mlp"],
              "num_hidden_layers": 5,
              "num_attention_heads": 4,
              "num_key_value_heads": 2,
              "head_dim": 24,
              "intermediate_size": 128,
              "mamba_num_heads": 8,
              "mamba_head_dim": 16,
              "ssm_state_size": 16,
              "n_groups": 2,
              "conv_kernel": 3,
              "expand": 3,
              "chunk_size": 32,
              "time_step_limit": [0.0, {"__float__": "Infinity"}],
              "layer_norm_epsilon": 1e-06,
              "tie_word_embeddings": false,
              "eos_token_id": [2, 11]
            }
            """;

    @Test
    void legacyFormParsesToTheSameValuesAsTheCurrentForm() {
        NemotronHConfig legacy = NemotronHConfig.parse(LEGACY);
        NemotronHConfig current = NemotronHConfig.parse(CURRENT);
        assertEquals("M-M*-", legacy.pattern());
        assertEquals(24, legacy.headDim);
        assertEquals(2, legacy.nGroups);
        assertEquals(3, legacy.convKernel);
        assertEquals(3, legacy.expand);
        assertEquals(32, legacy.chunkSize);
        assertEquals(0.0, legacy.timeStepLimitLow);
        assertEquals(Double.POSITIVE_INFINITY, legacy.timeStepLimitHigh);
        assertEquals(1e-6, legacy.layerNormEpsilon);
        assertEquals(List.of(2, 11), legacy.eosTokenIds);
        assertEquals(128 + 2 * 2 * 16, legacy.convDim());

        assertEquals(current.pattern(), legacy.pattern());
        assertEquals(current.paramCount(), legacy.paramCount());
        assertEquals(current.cacheBytes(100, 4), legacy.cacheBytes(100, 4));
        // every field, through the canonical current-form JSON
        assertEquals(current.toJson(), legacy.toJson());
    }

    @Test
    void legacyLayerNamesInLayersBlockType() {
        NemotronHConfig c = NemotronHConfig.parse(CURRENT.replace(
                "[\"linear_attention\", \"mlp\", \"linear_attention\", \"full_attention\", \"mlp\"]",
                "[\"mamba\", \"mlp\", \"mamba\", \"attention\", \"mlp\"]"));
        assertEquals("M-M*-", c.pattern());
        assertEquals(List.of(LayerType.MAMBA, LayerType.MLP, LayerType.MAMBA, LayerType.ATTENTION, LayerType.MLP), c.layers);
        assertEquals(NemotronHConfig.parse(CURRENT).toJson(), c.toJson());
    }

    @Test
    void finiteTimeStepLimitIsKept() {
        NemotronHConfig c = NemotronHConfig.parse(LEGACY.replace("[0.0, Infinity]", "[0.001, 100.0]"));
        assertEquals(0.001, c.timeStepLimitLow);
        assertEquals(100.0, c.timeStepLimitHigh);
        NemotronHConfig back = NemotronHConfig.parse(c.toJsonString());
        assertEquals(100.0, back.timeStepLimitHigh);
    }

    // ---------------------------------------------------------------- errors

    private static ObjectNode current() {
        try {
            return (ObjectNode) JSON.readTree(CURRENT);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private static String fails(Consumer<ObjectNode> edit) {
        ObjectNode n = current();
        edit.accept(n);
        return fails(() -> NemotronHConfig.parse(n.toString()));
    }

    private static String fails(Executable run) {
        return assertThrows(ConfigException.class, run).getMessage();
    }

    private static void assertContains(String message, String... parts) {
        for (String p : parts) assertTrue(message.contains(p), "expected \"" + p + "\" in: " + message);
    }

    @Test
    void unknownPatternCharacter() {
        String m = fails(() -> NemotronHConfig.parse(LEGACY.replace("\"M-M*-\"", "\"M-X\"").replace("\"num_hidden_layers\": 5,", "")));
        assertContains(m, "unknown layer character 'X'", "hybrid_override_pattern");
        assertEquals(m, fails(() -> NemotronHConfig.builder().pattern("M-X")));
    }

    @Test
    void unknownLayerTypeName() {
        String m = fails(n -> n.putArray("layers_block_type").add("linear_attention").add("transformer"));
        assertContains(m, "unknown layer type \"transformer\"", "layers_block_type", "linear_attention, full_attention, mlp, moe");
    }

    @Test
    void layerTypesMustBeStrings() {
        String m = fails(n -> n.putArray("layers_block_type").add("mlp").add(3));
        assertContains(m, "layers_block_type must be a list of strings", "3");
    }

    @Test
    void attentionHeadsNotDivisibleByKvHeads() {
        String m = fails(n -> {
            n.put("num_attention_heads", 5);
            n.put("num_key_value_heads", 2);
        });
        assertContains(m, "num_attention_heads (5)", "num_key_value_heads (2)", "multiple");
    }

    @Test
    void mambaHeadsNotDivisibleByGroups() {
        String m = fails(n -> {
            n.put("mamba_num_heads", 6);
            n.put("n_groups", 4);
        });
        assertContains(m, "mamba_num_heads (6)", "n_groups (4)", "multiple");
        String legacy = fails(() -> NemotronHConfig.parse(LEGACY.replace("\"mamba_n_groups\": 2", "\"mamba_n_groups\": 3")));
        assertContains(legacy, "mamba_num_heads (8)", "n_groups (3)");
    }

    @Test
    void missingVocabSize() {
        assertEquals("missing key: vocab_size", fails(n -> n.remove("vocab_size")));
    }

    @Test
    void missingBothLayerKeys() {
        String m = fails(n -> {
            n.remove("layers_block_type");
            n.remove("num_hidden_layers");
        });
        assertContains(m, "missing key", "layers_block_type", "hybrid_override_pattern");
    }

    @Test
    void wrongTypes() {
        assertEquals("hidden_size must be an integer, got \"big\"", fails(n -> n.put("hidden_size", "big")));
        assertContains(fails(n -> n.put("hidden_size", 64.5)), "hidden_size must be an integer", "64.5");
        assertContains(fails(n -> n.put("tie_word_embeddings", "yes")), "tie_word_embeddings must be true or false");
        assertContains(fails(n -> n.put("layer_norm_epsilon", "small")), "layer_norm_epsilon must be a number");
        assertContains(fails(n -> n.put("hybrid_override_pattern", 5).remove("layers_block_type")),
                "hybrid_override_pattern must be a string");
        assertContains(fails(n -> n.put("time_step_limit", 1.0)), "time_step_limit must be a pair");
    }

    @Test
    void nonPositiveSizes() {
        assertEquals("hidden_size must be a positive integer, got 0", fails(n -> n.put("hidden_size", 0)));
        assertContains(fails(n -> n.put("n_groups", 0)), "n_groups (mamba_n_groups) must be a positive integer, got 0");
        assertContains(fails(n -> n.put("layer_norm_epsilon", 0.0)), "layer_norm_epsilon must be > 0");
    }

    @Test
    void wrongModelType() {
        String m = fails(n -> n.put("model_type", "llama"));
        assertContains(m, "model_type \"llama\"", "not a Nemotron-H model");
    }

    @Test
    void numHiddenLayersDisagreesWithThePattern() {
        String m = fails(n -> n.put("num_hidden_layers", 7));
        assertContains(m, "num_hidden_layers (7)", "5 layers");
        String legacy = fails(() -> NemotronHConfig.parse(LEGACY.replace("\"num_hidden_layers\": 5", "\"num_hidden_layers\": 4")));
        assertContains(legacy, "num_hidden_layers (4)", "5 layers");
    }

    @Test
    void emptyPattern() {
        String m = fails(n -> n.putArray("layers_block_type"));
        // num_hidden_layers 5 vs an empty list is caught first
        assertContains(m, "num_hidden_layers (5)", "0 layers");
        ObjectNode noCount = current();
        noCount.remove("num_hidden_layers");
        noCount.putArray("layers_block_type");
        assertContains(fails(() -> NemotronHConfig.parse(noCount.toString())), "the model has no layers");
    }

    @Test
    void invalidJson() {
        assertContains(fails(() -> NemotronHConfig.parse("{\"vocab_size\": 320,")), "config is not valid JSON");
        assertContains(fails(() -> NemotronHConfig.parse("[1, 2]")), "not a JSON object");
    }

    @Test
    void invalidJsonFile(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("config.json"), "{\"vocab_size\": 320, oops}");
        String m = fails(() -> NemotronHConfig.load(dir));
        assertContains(m, "config.json", "is not valid JSON", dir.toString());
    }

    @Test
    void errorsFromAFileNameTheFile(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("config.json"), CURRENT.replace("\"vocab_size\": 320,", ""));
        String m = fails(() -> NemotronHConfig.load(dir));
        assertContains(m, dir.resolve("config.json").toString(), "missing key: vocab_size");
    }

    @Test
    void missingConfigFile(@TempDir Path dir) {
        String m = fails(() -> NemotronHConfig.load(dir));
        assertContains(m, "no config.json at " + dir.resolve("config.json"));
    }

    @Test
    void loadAcceptsTheFileItself(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("my-config.json");
        Files.writeString(file, LEGACY);
        assertEquals("M-M*-", NemotronHConfig.load(file).pattern());
    }

    // ---------------------------------------------------------------- JSON round trip and builder

    @Test
    void toJsonRoundTrip() {
        for (String name : Fixtures.ALL) {
            NemotronHConfig c = NemotronHConfig.load(Fixtures.model(name));
            NemotronHConfig back = NemotronHConfig.parse(c.toJsonString());
            assertEquals(c.pattern(), back.pattern(), name);
            assertEquals(c.paramCount(), back.paramCount(), name);
            assertEquals(c.toJson(), back.toJson(), name);
            assertEquals(Double.POSITIVE_INFINITY, back.timeStepLimitHigh, name);
        }
        NemotronHConfig legacy = NemotronHConfig.parse(LEGACY);
        ObjectNode json = legacy.toJson();
        assertEquals("linear_attention", json.get("layers_block_type").get(0).asText());
        assertEquals("Infinity", json.get("time_step_limit").get(1).get("__float__").asText());
        assertEquals(2, json.get("eos_token_id").size());
        assertEquals(legacy.paramCount(), NemotronHConfig.fromJson(json).paramCount());
    }

    @Test
    void builderLayersAlternateMambaAndMlpWithAttentionEveryNth() {
        assertEquals("M-M-M-", NemotronHConfig.builder().layers(6, 0).build().pattern());
        // blocks 4 and 8 (1-based) are attention; the rest alternate by index parity
        assertEquals("M-M*M-M*M-", NemotronHConfig.builder().layers(10, 4).build().pattern());
        assertEquals("M-*-M*M-*", NemotronHConfig.builder().layers(9, 3).build().pattern());
        NemotronHConfig c = NemotronHConfig.builder().layers(10, 4).build();
        assertEquals(2, c.count(LayerType.ATTENTION));
        assertEquals(3, c.count(LayerType.MLP), "attention takes an MLP slot at odd indices");
        assertEquals(5, c.count(LayerType.MAMBA));
    }

    @Test
    void builderConfigRoundTrips() {
        NemotronHConfig c = NemotronHConfig.builder()
                .vocabSize(1000).hiddenSize(256).pattern("MEM*E-")
                .attentionHeads(8, 2, 32).intermediateSize(512)
                .mamba(16, 32, 64, 4).convKernel(4).chunkSize(64)
                .moe(8, 2, 128, 256).moeRouting(2, 1, true, 2.5)
                .timeStepLimit(0.0, 10.0)
                .build();
        NemotronHConfig back = NemotronHConfig.parse(c.toJsonString());
        assertEquals("MEM*E-", back.pattern());
        assertEquals(c.paramCount(), back.paramCount());
        assertEquals(c.activeParamCount(), back.activeParamCount());
        assertEquals(10.0, back.timeStepLimitHigh);
        assertEquals(c.toJson(), back.toJson());
    }

    // ---- found by ConfigFuzzTest (their inputs: src/test/resources/dev/nemoh/config/ConfigFuzzTestInputs/parse)

    @Test
    void fuzzHugeExpertCountIsRefusedBeforeASpecPerExpertIsAllocated() {
        // n_routed_experts = 2^31 - 1 passed validation and made WeightSchema allocate a spec per expert (OOM)
        String m = fails(n -> {
            n.putArray("layers_block_type").add("moe");
            n.put("num_hidden_layers", 1);
            n.put("n_routed_experts", Integer.MAX_VALUE);
        });
        assertContains(m, "n_routed_experts = 2147483647", "at most");
        assertContains(fails(n -> {
            n.putArray("layers_block_type").add("moe").add("moe").add("moe").add("moe").add("moe");
            n.put("num_hidden_layers", 5);
            n.put("n_routed_experts", 1 << 14);
        }), "in 5 MoE layers");
    }

    @Test
    void fuzzMambaWidthOverflowingAnIntIsRefused() {
        // mamba_num_heads × mamba_head_dim wrapped to 0 in mambaIntermediateSize(), giving tensors of no width
        assertContains(fails(n -> {
            n.put("mamba_num_heads", 65536);
            n.put("mamba_head_dim", 65536);
            n.put("n_groups", 1);
        }), "mamba_num_heads × mamba_head_dim = 4294967296 overflows a 32-bit size");
        assertContains(fails(n -> {
            n.put("num_attention_heads", 65536);
            n.put("num_key_value_heads", 1);
            n.put("head_dim", 65536);
        }), "num_attention_heads × head_dim");
    }

    @Test
    void fuzzCacheBytesOverflowingALongIsRefused() {
        // cacheBytes() wrapped negative, which would pass the server's cache bound
        assertContains(fails(n -> {
            n.put("max_position_embeddings", Integer.MAX_VALUE);
            n.put("num_attention_heads", 32768);
            n.put("num_key_value_heads", 32768);
            n.put("head_dim", 65535);
        }), "overflow 64-bit counts", "max_position_embeddings = 2147483647");
    }

    @Test
    void fuzzNonFiniteNumbersAreRefused() {
        // NaN passed "layer_norm_epsilon <= 0", and toJson then wrote a config that does not read back
        assertContains(fails(n -> n.putRawValue("layer_norm_epsilon", new RawValue("NaN"))), "layer_norm_epsilon must be > 0 and finite");
        assertContains(fails(n -> n.putRawValue("layer_norm_epsilon", new RawValue("Infinity"))), "layer_norm_epsilon");
        assertContains(fails(n -> n.putRawValue("routed_scaling_factor", new RawValue("NaN"))), "routed_scaling_factor must be a finite number");
        assertContains(fails(n -> n.putObject("time_step_min").put("__float__", "inf")), "time_step_min must be a finite number");
    }

    @Test
    void fuzzLayerCountIsBounded() {
        assertContains(fails(n -> {
            n.remove("layers_block_type");
            n.remove("num_hidden_layers");
            n.put("hybrid_override_pattern", "-".repeat(5000));
        }), "5000 layers", "at most 4096");
    }

    @Test
    void fuzzNegativeContextIsRefused() {
        // parse/negative-max-position-embeddings: max_position_embeddings = -2147483647 passed, and cacheBytes() of it
        // was negative
        assertEquals("max_position_embeddings must be a positive integer, got -2147483647",
                fails(n -> n.put("max_position_embeddings", -2147483647)));
        assertContains(fails(n -> n.put("max_position_embeddings", 0)), "max_position_embeddings");
    }
}
