package dev.nemoh.model;

import dev.nemoh.Fixtures;
import dev.nemoh.model.HybridCache;
import dev.nemoh.io.SafetensorsFile;
import dev.nemoh.kernels.Vec;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Logits, hidden states and greedy decoding against transformers' NemotronHForCausalLM on the fixtures. */
class ForwardFixtureTest {
    static final double TOL = 1e-4;

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
            System.out.printf("%s logits: max abs %.3g, rel %.3g%n", fixture, maxAbs, rel);
            assertTrue(maxAbs < TOL, fixture + " logits max abs error " + maxAbs);
            assertTrue(rel < 1e-5, fixture + " logits relative error " + rel);

            float[] logits2 = model.forward(Fixtures.ids(ref.get("input_ids_2")), null);
            double max2 = Fixtures.maxAbs(logits2, ref.get("logits_2").toFloatArray());
            System.out.printf("%s second prompt logits: max abs %.3g%n", fixture, max2);
            assertTrue(max2 < TOL, fixture + " second prompt logits max abs error " + max2);
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
                double err = Fixtures.maxAbs(hidden, ref.get(name).toFloatArray());
                assertTrue(err < TOL, fixture + " " + name + " max abs error " + err);
                worst[0] = Math.max(worst[0], err);
                seen[0]++;
            });
            System.out.printf("%s hidden states: worst max abs %.3g%n", fixture, worst[0]);
            assertEquals(layers + 1, seen[0], "embedding, every block input and norm_f are checked");
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
            double worstStep = 0;
            for (int i = 0; i < tokens.length; i++) {
                float[] expectedRow = Arrays.copyOfRange(expectedStepLogits, i * vocab, (i + 1) * vocab);
                double err = Fixtures.maxAbs(logits, expectedRow);
                assertTrue(err < TOL, fixture + " step " + i + " logits max abs error " + err);
                worstStep = Math.max(worstStep, err);
                tokens[i] = Vec.argmax(logits, 0, vocab);
                logits = model.forwardLast(new int[] {tokens[i]}, cache);
            }
            assertArrayEquals(expectedTokens, tokens, fixture + " greedy tokens");

            int[] all = new int[prompt.length + tokens.length];
            System.arraycopy(prompt, 0, all, 0, prompt.length);
            System.arraycopy(tokens, 0, all, prompt.length, tokens.length);
            double full = Fixtures.maxAbs(model.forward(all, null), ref.get("greedy_full_logits").toFloatArray());
            System.out.printf("%s cached greedy steps: worst max abs %.3g; full forward over prompt + generation: max abs %.3g%n",
                    fixture, worstStep, full);
            assertTrue(full < TOL, fixture + " full forward over prompt + generation, max abs error " + full);
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
            double worstState = 0;
            for (int i = 0; i < model.blocks.size(); i++) {
                if (prefilled.layer(i) instanceof HybridCache.MambaState a) {
                    var b = (HybridCache.MambaState) stepped.layer(i);
                    double conv = Fixtures.maxAbs(a.conv, b.conv);
                    assertTrue(conv < 1e-5, fixture + " layer " + i + " conv state differs by " + conv);
                    double ssm = Fixtures.maxAbs(a.ssm, b.ssm);
                    assertTrue(ssm < 1e-5, fixture + " layer " + i + " SSM state differs by " + ssm);
                    worstState = Math.max(worstState, Math.max(conv, ssm));
                }
            }
            double last = Fixtures.maxAbs(lastPrefill, lastStep);
            System.out.printf("%s prefill vs step by step: state max abs %.3g, last logits max abs %.3g%n", fixture, worstState, last);
            assertTrue(last < TOL);
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
