package dev.nemoh.model;

import dev.nemoh.Fixtures;
import dev.nemoh.Tolerance;
import dev.nemoh.model.HybridCache;
import dev.nemoh.io.SafetensorsFile;
import dev.nemoh.kernels.Vec;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Arrays;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Logits, hidden states and greedy decoding against transformers' NemotronHForCausalLM on the fixtures. Each bound is
 * about ten times the error measured per fixture ({@link Tolerance}); the measurements, made on the 2-core AVX2
 * development VM, are the values of the maps below.
 */
class ForwardFixtureTest {
    /** Max abs error of the uncached logits against the float64 reference. */
    static final Map<String, Double> LOGITS_ABS = Tolerance.measured("nemotron-h-tiny", 3.6e-6, "nano-v2-tiny", 3.1e-6, "moe-tiny", 3.4e-6);
    /** ‖logits − ref‖ / ‖ref‖ of the same. */
    static final Map<String, Double> LOGITS_REL = Tolerance.measured("nemotron-h-tiny", 5.4e-7, "nano-v2-tiny", 5.8e-7, "moe-tiny", 7.4e-7);
    /** Max abs error of the second prompt's logits against the float32 reference. */
    static final Map<String, Double> SECOND_ABS = Tolerance.measured("nemotron-h-tiny", 4.8e-6, "nano-v2-tiny", 5.0e-6, "moe-tiny", 3.3e-6);
    /** Worst max abs error of the hidden states (embeddings, every block's input, norm_f). */
    static final Map<String, Double> HIDDEN_ABS = Tolerance.measured("nemotron-h-tiny", 1.9e-5, "nano-v2-tiny", 1.3e-5, "moe-tiny", 1.1e-5);
    /** Worst max abs error of a cached greedy step's logits. */
    static final Map<String, Double> STEP_ABS = Tolerance.measured("nemotron-h-tiny", 3.7e-6, "nano-v2-tiny", 4.0e-6, "moe-tiny", 2.2e-6);
    /** Max abs error of the uncached forward over prompt + greedy tokens. */
    static final Map<String, Double> FULL_ABS = Tolerance.measured("nemotron-h-tiny", 6.1e-6, "nano-v2-tiny", 4.6e-6, "moe-tiny", 4.1e-6);
    /** Prefill against token-by-token states (one dt clamp rule): worst conv state, SSM state, last logits. */
    static final Map<String, Double> CONV_STATE = Tolerance.measured("nemotron-h-tiny", 2.9e-6, "nano-v2-tiny", 2.0e-6, "moe-tiny", 1.0e-6);
    static final Map<String, Double> SSM_STATE = Tolerance.measured("nemotron-h-tiny", 3.6e-6, "nano-v2-tiny", 2.7e-6, "moe-tiny", 6.0e-7);
    static final Map<String, Double> STEPPED_LOGITS = Tolerance.measured("nemotron-h-tiny", 2.0e-6, "nano-v2-tiny", 1.6e-6, "moe-tiny", 1.4e-6);

    @ParameterizedTest
    @ValueSource(strings = {"nemotron-h-tiny", "nano-v2-tiny", "moe-tiny"})
    void uncachedLogitsMatchFloat64Reference(String fixture) {
        try (NemotronHModel model = NemotronHModel.load(Fixtures.model(fixture));
             SafetensorsFile ref = Fixtures.reference(fixture)) {
            int[] ids = Fixtures.ids(ref.get("input_ids"));
            float[] logits = model.forward(ids, null);
            double[] expected = ref.get("logits_f64").toDoubleArray();
            double maxAbs = Fixtures.maxAbs(logits, expected);
            double rel = Fixtures.relative(logits, expected);
            Tolerance.check(fixture + " LOGITS_ABS", maxAbs, Tolerance.of(LOGITS_ABS, fixture));
            Tolerance.check(fixture + " LOGITS_REL", rel, Tolerance.of(LOGITS_REL, fixture));

            float[] logits2 = model.forward(Fixtures.ids(ref.get("input_ids_2")), null);
            double max2 = Fixtures.maxAbs(logits2, ref.get("logits_2").toFloatArray());
            Tolerance.check(fixture + " SECOND_ABS", max2, Tolerance.of(SECOND_ABS, fixture));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"nemotron-h-tiny", "nano-v2-tiny", "moe-tiny"})
    void everyHiddenStateMatches(String fixture) {
        try (NemotronHModel model = NemotronHModel.load(Fixtures.model(fixture));
             SafetensorsFile ref = Fixtures.reference(fixture)) {
            int[] ids = Fixtures.ids(ref.get("input_ids"));
            int layers = model.blocks.size();
            int[] seen = {0};
            double[] worst = {0};
            // transformers records each block's input and, last, the output of norm_f (not of the last block)
            model.forward(ids, null, (index, hidden, len) -> {
                if (index == layers) return;
                String name = "hidden_" + Math.min(index, layers);
                worst[0] = Math.max(worst[0], Fixtures.maxAbs(hidden, ref.get(name).toFloatArray()));
                seen[0]++;
            });
            assertEquals(layers + 1, seen[0], "embedding, every block input and norm_f are checked");
            Tolerance.check(fixture + " HIDDEN_ABS", worst[0], Tolerance.of(HIDDEN_ABS, fixture));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"nemotron-h-tiny", "nano-v2-tiny", "moe-tiny"})
    void greedyDecodingThroughCacheMatches(String fixture) {
        try (NemotronHModel model = NemotronHModel.load(Fixtures.model(fixture));
             SafetensorsFile ref = Fixtures.reference(fixture)) {
            int[] prompt = Fixtures.ids(ref.get("input_ids"));
            int[] expectedTokens = Fixtures.ids(ref.get("greedy_tokens"));
            float[] expectedStepLogits = ref.get("greedy_step_logits").toFloatArray();
            int vocab = model.config.vocabSize;

            HybridCache cache = model.newCache();
            float[] logits = model.forwardLast(prompt, cache);
            int[] tokens = new int[expectedTokens.length];
            double worst = 0;
            for (int i = 0; i < tokens.length; i++) {
                float[] expectedRow = Arrays.copyOfRange(expectedStepLogits, i * vocab, (i + 1) * vocab);
                worst = Math.max(worst, Fixtures.maxAbs(logits, expectedRow));
                tokens[i] = Vec.argmax(logits, 0, vocab);
                logits = model.forwardLast(new int[] {tokens[i]}, cache);
            }
            Tolerance.check(fixture + " STEP_ABS", worst, Tolerance.of(STEP_ABS, fixture));
            assertArrayEquals(expectedTokens, tokens, fixture + " greedy tokens");

            int[] all = new int[prompt.length + tokens.length];
            System.arraycopy(prompt, 0, all, 0, prompt.length);
            System.arraycopy(tokens, 0, all, prompt.length, tokens.length);
            double full = Fixtures.maxAbs(model.forward(all, null), ref.get("greedy_full_logits").toFloatArray());
            Tolerance.check(fixture + " FULL_ABS", full, Tolerance.of(FULL_ABS, fixture));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"nemotron-h-tiny", "nano-v2-tiny", "moe-tiny"})
    void prefillStateEqualsStepByStepState(String fixture) {
        // transformers leaves dt unclamped in its decode step only (see TimeStepClamp); with one rule in both paths
        // the recurrence and the chunked scan must reach the same state
        try (NemotronHModel model = NemotronHModel.load(Fixtures.model(fixture), TimeStepClamp.EVERYWHERE);
             SafetensorsFile ref = Fixtures.reference(fixture)) {
            int[] prompt = Fixtures.ids(ref.get("input_ids"));
            HybridCache prefilled = model.newCache();
            float[] lastPrefill = model.forwardLast(prompt, prefilled);
            HybridCache stepped = model.newCache();
            float[] lastStep = null;
            for (int id : prompt) lastStep = model.forwardLast(new int[] {id}, stepped);

            assertEquals(prefilled.length(), stepped.length());
            double conv = 0, ssm = 0;
            for (int i = 0; i < model.blocks.size(); i++) {
                if (prefilled.layer(i) instanceof HybridCache.MambaState a) {
                    var b = (HybridCache.MambaState) stepped.layer(i);
                    conv = Math.max(conv, Fixtures.maxAbs(a.conv, b.conv));
                    ssm = Math.max(ssm, Fixtures.maxAbs(a.ssm, b.ssm));
                }
            }
            Tolerance.check(fixture + " CONV_STATE", conv, Tolerance.of(CONV_STATE, fixture));
            Tolerance.check(fixture + " SSM_STATE", ssm, Tolerance.of(SSM_STATE, fixture));
            Tolerance.check(fixture + " STEPPED_LOGITS", Fixtures.maxAbs(lastPrefill, lastStep), Tolerance.of(STEPPED_LOGITS, fixture));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"nemotron-h-tiny"})
    void transformersDecodeSkipsTheTimeStepClamp(String fixture) {
        // this prompt has tokens whose dt falls below time_step_min: transformers' step-by-step state differs
        try (NemotronHModel model = NemotronHModel.load(Fixtures.model(fixture));
             SafetensorsFile ref = Fixtures.reference(fixture)) {
            int[] prompt = Fixtures.ids(ref.get("input_ids"));
            HybridCache prefilled = model.newCache();
            model.forwardLast(prompt, prefilled);
            HybridCache stepped = model.newCache();
            for (int id : prompt) model.forwardLast(new int[] {id}, stepped);
            double worst = 0;
            for (int i = 0; i < model.blocks.size(); i++) {
                if (prefilled.layer(i) instanceof HybridCache.MambaState a) {
                    worst = Math.max(worst, Fixtures.maxAbs(a.ssm, ((HybridCache.MambaState) stepped.layer(i)).ssm));
                }
            }
            assertTrue(worst > 1e-5, fixture + ": expected the unclamped decode to leave the prefill state, got " + worst);
        }
    }
}
