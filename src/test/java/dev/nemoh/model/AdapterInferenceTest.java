package dev.nemoh.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.nemoh.Fixtures;
import dev.nemoh.Tolerance;
import dev.nemoh.config.LoraConfig;
import dev.nemoh.io.CheckpointException;
import dev.nemoh.io.PeftAdapter;
import dev.nemoh.io.SafetensorsFile;
import dev.nemoh.model.LanguageModel.SequenceState;
import dev.nemoh.train.AdamW;
import dev.nemoh.train.LoraModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * PEFT adapters applied unmerged at inference: PEFT's logits on the fixtures, our own adapters (out_proj and MoE
 * experts included) against the training code's forward, rows of different adapters in one batched step against
 * each row alone, quantized bases, and the one-line refusals of adapters that do not fit. Bounds are about ten
 * times the max abs differences measured ({@link Tolerance}).
 */
class AdapterInferenceTest {
    /** Max abs difference from PEFT's logits ({@code <kind>.logits.0}, input row 0). */
    static final Map<String, Double> PEFT = Tolerance.measured("nemotron-h-tiny lora", 4.9e-6, "nemotron-h-tiny dora", 1.1e-5,
            "nano-v2-tiny lora", 5.2e-6, "nano-v2-tiny dora", 4.7e-6);
    /** Max abs difference from the training forward of the same adapter (saved by finetune's code, out_proj included). */
    static final Map<String, Double> OURS = Tolerance.measured("nemotron-h-tiny lora", 1.4e-6, "nemotron-h-tiny dora", 2.7e-6,
            "moe-tiny lora", 1.2e-6, "moe-tiny dora", 2.0e-6);
    /** Max abs difference of a batched step's rows (none, LoRA, DoRA, LoRA) from each sequence decoded alone. */
    static final Map<String, Double> MIXED_BATCH = Tolerance.measured("nemotron-h-tiny", 0.0, "nano-v2-tiny", 0.0);
    /**
     * With the base quantized on load: the adapter's effect on the logits (adapted − base, both quantized) against
     * PEFT's (PEFT's adapted logits − the float32 base's), max abs.
     */
    static final Map<String, Double> QUANTIZED = Tolerance.measured("q8_0 lora", 0.086, "q8_0 dora", 0.18);
    /** One quantized layer with the adapter against the same math in double over its dequantized weights, max abs. */
    static final Map<String, Double> QUANTIZED_LAYER = Tolerance.measured("q8_0 lora", 1.5e-7, "q8_0 dora", 2.7e-7,
            "q4_0 lora", 1.5e-7, "q4_0 dora", 3.3e-7);

    static Path adapterDir(String fixture, String kind) {
        return Fixtures.dir(fixture).resolve(kind + "_adapter");
    }

    static int[] row0(String fixture) {
        try (SafetensorsFile ref = SafetensorsFile.open(Fixtures.dir(fixture).resolve("training.safetensors"))) {
            int[] ids = ref.get("input_ids").toIntArray();
            return Arrays.copyOf(ids, ref.get("input_ids").dim(1));
        }
    }

    static float[] peftLogits(String fixture, String kind) {
        try (SafetensorsFile ref = SafetensorsFile.open(Fixtures.dir(fixture).resolve("training.safetensors"))) {
            return ref.get(kind + ".logits.0").toFloatArray();
        }
    }

    @ParameterizedTest
    @CsvSource({"nemotron-h-tiny, lora", "nemotron-h-tiny, dora", "nano-v2-tiny, lora", "nano-v2-tiny, dora"})
    void peftAdaptersGivePeftLogits(String fixture, String kind) {
        try (NemotronHModel m = NemotronHModel.load(Fixtures.model(fixture))) {
            LoraAdapter adapter = m.loadAdapter(kind, adapterDir(fixture, kind));
            assertEquals(kind.equals("dora"), adapter.config.useDora());
            int[] ids = row0(fixture);
            float[] expected = peftLogits(fixture, kind);
            double err = Fixtures.maxAbs(m.forwardThrough(ids, adapter), expected);
            Tolerance.check(fixture + " " + kind + " against PEFT, logits max abs", err, Tolerance.of(PEFT, fixture + " " + kind));
            assertTrue(err < 1e-4, "the issue's bound: " + err);
            // the adapter matters: the base model is far from PEFT's adapted logits
            assertTrue(Fixtures.maxAbs(m.forwardThrough(ids, null), expected) > 100 * err);
            // the cached path (prefill, then token by token) gives the same last logits
            SequenceState state = m.newState(ids.length, adapter);
            m.forwardLast(Arrays.copyOf(ids, ids.length - 3), state);
            m.forwardLast(new int[] {ids[ids.length - 3]}, state);
            m.decodeBatch(new int[] {ids[ids.length - 2]}, new SequenceState[] {state});
            float[] last = m.forwardLast(new int[] {ids[ids.length - 1]}, state);
            int v = m.config.vocabSize;
            Tolerance.check(fixture + " " + kind + " decoded token by token, last position", Fixtures.maxAbs(last,
                    Arrays.copyOfRange(expected, (ids.length - 1) * v, ids.length * v)), Tolerance.of(PEFT, fixture + " " + kind));
        }
    }

    /** An adapter as finetune saves it (every module, out_proj and MoE experts included), trained a step so B ≠ 0. */
    @ParameterizedTest
    @CsvSource({"nemotron-h-tiny, lora", "nemotron-h-tiny, dora", "moe-tiny, lora", "moe-tiny, dora"})
    void ourAdaptersEqualTheTrainingForward(String fixture, String kind, @TempDir Path tmp) {
        Path base = Fixtures.model(fixture);
        LoraModel trained = LoraModel.create(base, new LoraConfig(4, 8, 0, LoraConfig.MODULES, false, kind.equals("dora"), 3));
        int[][] batch = {{5, 17, 42, 7, 99, 3, 250, 1, 64, 12}};
        trained.lossAndBackward(batch, batch, batch[0].length - 1);
        new AdamW(trained.parameters(), 0.9, 0.95, 1e-8, 0).step(5e-2);
        trained.save(tmp);
        assertTrue(trained.parameters().stream().anyMatch(p -> p.name.contains("out_proj")));
        int[] ids = {9, 4, 200, 31, 77, 5, 18};
        float[] expected = trained.logits(ids);
        try (NemotronHModel m = NemotronHModel.load(base)) {
            LoraAdapter adapter = m.loadAdapter("ours", tmp);
            double err = Fixtures.maxAbs(m.forwardThrough(ids, adapter), expected);
            Tolerance.check(fixture + " " + kind + " (ours) against the training forward, max abs", err,
                    Tolerance.of(OURS, fixture + " " + kind));
            assertTrue(Fixtures.maxAbs(m.forwardThrough(ids, null), expected) > 100 * err);
        }
    }

    @ParameterizedTest
    @CsvSource({"nemotron-h-tiny", "nano-v2-tiny"})
    void rowsWithDifferentAdaptersInOneStepEqualEachRowAlone(String fixture) {
        try (NemotronHModel m = NemotronHModel.load(Fixtures.model(fixture))) {
            LoraAdapter lora = m.loadAdapter("lora", adapterDir(fixture, "lora"));
            LoraAdapter dora = m.loadAdapter("dora", adapterDir(fixture, "dora"));
            LoraAdapter[] chosen = {null, lora, dora, lora};
            int[][] prompts = {{1, 5, 9, 2, 7}, {3, 8}, {8, 8, 4, 6, 1, 2, 9, 11, 3, 5, 7, 19, 40, 2, 2, 6, 30}, {1, 5, 9, 2, 7}};
            int v = m.config.vocabSize;
            SequenceState[] batch = new SequenceState[prompts.length], alone = new SequenceState[prompts.length];
            for (int b = 0; b < prompts.length; b++) {
                batch[b] = m.newState(64, chosen[b]);
                alone[b] = m.newState(64, chosen[b]);
                m.forwardLast(prompts[b], batch[b]);
                m.forwardLast(prompts[b], alone[b]);
            }
            double worst = 0;
            int[] tokens = {4, 10, 12, 4};
            for (int step = 0; step < 3; step++) {
                float[] logits = m.decodeBatch(tokens, batch);
                for (int b = 0; b < prompts.length; b++) {
                    float[] solo = m.forwardLast(new int[] {tokens[b]}, alone[b]);
                    worst = Math.max(worst, Fixtures.maxAbs(Arrays.copyOfRange(logits, b * v, (b + 1) * v), solo));
                }
                for (int b = 0; b < tokens.length; b++) tokens[b] = (tokens[b] * 7 + step + 1) % v;
            }
            Tolerance.check(fixture + " mixed adapters in one batch against each row alone, max abs", worst,
                    Tolerance.of(MIXED_BATCH, fixture));
            assertTrue(worst < 1e-5, "the issue's bound: " + worst);
        }
    }

    @ParameterizedTest
    @CsvSource({"q8_0, lora", "q8_0, dora"})
    void quantizedBasesKeepFloat32Adapters(String format, String kind) {
        String fixture = "nemotron-h-tiny";
        try (NemotronHModel m = NemotronHModel.load(Fixtures.model(fixture), TimeStepClamp.TRANSFORMERS, WeightFormat.parse(format))) {
            LoraAdapter adapter = m.loadAdapter(kind, adapterDir(fixture, kind));
            int[] ids = row0(fixture);
            float[] peftEffect = peftLogits(fixture, kind), ours = m.forwardThrough(ids, adapter), base = m.forwardThrough(ids, null);
            try (NemotronHModel exact = NemotronHModel.load(Fixtures.model(fixture))) {
                float[] exactBase = exact.forwardThrough(ids, null);
                for (int i = 0; i < ours.length; i++) {
                    ours[i] -= base[i];
                    peftEffect[i] -= exactBase[i];
                }
            }
            double err = Fixtures.maxAbs(ours, peftEffect);
            Tolerance.check(format + " " + kind + " adapter's effect against PEFT's, max abs", err,
                    Tolerance.of(QUANTIZED, format + " " + kind));
            double effect = 0;
            for (float e : peftEffect) effect = Math.max(effect, Math.abs(e));
            assertTrue(effect > 5 * err, "the effect (max " + effect + ") shows through quantization: " + err);
        }
    }

    /** A quantized layer's output through the adapter, against the formula in double from the adapter file's tensors (DoRA's norms over the dequantized weights). */
    @ParameterizedTest
    @CsvSource({"q8_0, lora", "q8_0, dora", "q4_0, lora", "q4_0, dora"})
    void quantizedLayersApplyTheAdapterOnTheirOwnWeights(String format, String kind) {
        String fixture = "nemotron-h-tiny", module = "model.layers.0.mixer.in_proj";
        try (NemotronHModel m = NemotronHModel.load(Fixtures.model(fixture), TimeStepClamp.TRANSFORMERS, WeightFormat.parse(format));
             SafetensorsFile file = SafetensorsFile.open(adapterDir(fixture, kind).resolve(PeftAdapter.WEIGHTS))) {
            LoraAdapter adapter = m.loadAdapter(kind, adapterDir(fixture, kind));
            Linear linear = m.linears().get("backbone.layers.0.mixer.in_proj");
            assertTrue(linear.weight instanceof dev.nemoh.kernels.QuantizedWeights);
            float[] a = file.get(PeftAdapter.PREFIX + module + PeftAdapter.LORA_A).toFloatArray();
            float[] b = file.get(PeftAdapter.PREFIX + module + PeftAdapter.LORA_B).toFloatArray();
            int in = linear.in, out = linear.out, r = adapter.config.r(), rows = 3;
            double s = adapter.config.scaling();
            float[] x = new float[rows * in];
            java.util.SplittableRandom rnd = new java.util.SplittableRandom(1);
            for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextGaussian();
            float[] y = linear.forward(x, rows, new LoraAdapter[] {adapter, adapter, adapter});
            // the kernel's own W x (it rounds x to its block format too), so that only the adapter's math is compared
            float[] base = linear.forward(x, rows);
            assertEquals(null, linear.bias);
            float[] w = new float[out * in];
            linear.weight.widen(0, out, w);
            double worst = 0;
            for (int o = 0; o < out; o++) {
                double[] row = new double[in], delta = new double[in];
                for (int i = 0; i < in; i++) {
                    for (int k = 0; k < r; k++) delta[i] += (double) b[o * r + k] * a[k * in + i];
                    row[i] = w[o * in + i] + s * delta[i];
                }
                double f = 1;
                if (kind.equals("dora")) {
                    double norm = 0;
                    for (double v : row) norm += v * v;
                    f = file.get(PeftAdapter.PREFIX + module + PeftAdapter.MAGNITUDE).getFloat(o) / Math.sqrt(norm);
                }
                for (int t = 0; t < rows; t++) {
                    double dot = 0;
                    for (int i = 0; i < in; i++) dot += s * delta[i] * x[t * in + i];
                    worst = Math.max(worst, Math.abs(y[t * out + o] - f * (base[t * out + o] + dot)));
                }
            }
            Tolerance.check(format + " " + kind + " in_proj of layer 0 against double, max abs", worst,
                    Tolerance.of(QUANTIZED_LAYER, format + " " + kind));
        }
    }

    /** Prefix-cache entries are keyed by the adapter's identity: an adapter resumes only from its own prefixes. */
    @Test
    void thePrefixCacheKeepsAdaptersApart() {
        String fixture = "nemotron-h-tiny";
        try (NemotronHModel m = NemotronHModel.load(Fixtures.model(fixture))) {
            LoraAdapter lora = m.loadAdapter("lora", adapterDir(fixture, "lora"));
            LoraAdapter dora = m.loadAdapter("dora", adapterDir(fixture, "dora"));
            PrefixCache cache = new PrefixCache(m, 1 << 24, 4);
            int[] prompt = row0(fixture);
            dev.nemoh.generate.SamplingParams greedy = dev.nemoh.generate.SamplingParams.greedy().withMaxTokens(6);
            for (LoraAdapter adapter : new LoraAdapter[] {lora, dora, null}) {
                int[] uncached = tokens(new dev.nemoh.generate.Generation(m, prompt, greedy, null, adapter));
                dev.nemoh.generate.Generation first = new dev.nemoh.generate.Generation(m, prompt, greedy, cache, adapter);
                assertEquals(0, first.cachedTokens(), "nothing of " + adapter + " is cached yet");
                assertTrue(Arrays.equals(uncached, tokens(first)));
                dev.nemoh.generate.Generation again = new dev.nemoh.generate.Generation(m, prompt, greedy, cache, adapter);
                assertEquals(20, again.cachedTokens());
                assertTrue(Arrays.equals(uncached, tokens(again)), "resumed from " + adapter + "'s own prefix");
            }
        }
    }

    static int[] tokens(dev.nemoh.generate.Generation g) {
        int[] out = new int[6];
        for (int i = 0; i < out.length; i++) out[i] = g.next();
        return out;
    }

    @Test
    void identityIsNamePlusContentHash(@TempDir Path tmp) throws Exception {
        Path lora = adapterDir("nemotron-h-tiny", "lora");
        try (NemotronHModel m = NemotronHModel.load(Fixtures.model("nemotron-h-tiny"))) {
            LoraAdapter a = m.loadAdapter("a", lora), again = m.loadAdapter("a", lora), other = m.loadAdapter("b", lora);
            assertEquals(a.identity(), again.identity());
            assertTrue(a.identity().matches("a@[0-9a-f]{16}"), a.identity());
            assertNotEquals(a.identity(), other.identity());
            assertEquals(a.identity().substring(2), other.identity().substring(2));
            Files.copy(lora.resolve(PeftAdapter.WEIGHTS), tmp.resolve(PeftAdapter.WEIGHTS));
            Files.writeString(tmp.resolve(PeftAdapter.CONFIG), Files.readString(lora.resolve(PeftAdapter.CONFIG))
                    .replace("\"lora_alpha\": 8", "\"lora_alpha\": 16"));
            assertNotEquals(a.identity(), m.loadAdapter("a", tmp).identity());
        }
    }

    @Test
    void adaptersThatDoNotFitAreRefusedInOneLine(@TempDir Path tmp) throws Exception {
        Path lora = adapterDir("nemotron-h-tiny", "lora");
        try (NemotronHModel m = NemotronHModel.load(Fixtures.model("nemotron-h-tiny"));
             NemotronHModel other = NemotronHModel.load(Fixtures.model("nano-v2-tiny"))) {
            // another base model: its layers differ in number and width
            String base = refusal(() -> m.loadAdapter("x", adapterDir("nano-v2-tiny", "lora")));
            assertTrue(base.contains("base model"), base);
            // another rank than the tensors have
            Files.copy(lora.resolve(PeftAdapter.WEIGHTS), tmp.resolve(PeftAdapter.WEIGHTS));
            String config = Files.readString(lora.resolve(PeftAdapter.CONFIG));
            Files.writeString(tmp.resolve(PeftAdapter.CONFIG), config.replace("\"r\": 4", "\"r\": 8"));
            String shape = refusal(() -> m.loadAdapter("x", tmp));
            assertTrue(shape.contains("has shape") && shape.contains("check r and the base model"), shape);
            // a target nemoh does not know, and a setting it does not implement
            Files.writeString(tmp.resolve(PeftAdapter.CONFIG), config.replace("\"q_proj\"", "\"gate_proj\""));
            String target = refusal(() -> m.loadAdapter("x", tmp));
            assertTrue(target.contains("gate_proj"), target);
            Files.writeString(tmp.resolve(PeftAdapter.CONFIG), config.replace("\"fan_in_fan_out\": false", "\"fan_in_fan_out\": true"));
            assertTrue(refusal(() -> m.loadAdapter("x", tmp)).contains("fan_in_fan_out"));
            // not a directory, and a directory without the adapter's files
            assertTrue(refusal(() -> m.loadAdapter("x", tmp.resolve("nope"))).contains("not found"));
            Files.createDirectories(tmp.resolve("empty"));
            assertTrue(refusal(() -> m.loadAdapter("x", tmp.resolve("empty"))).contains(PeftAdapter.CONFIG));
            // an adapter belongs to the model instance that loaded it
            LoraAdapter mine = m.loadAdapter("lora", lora);
            var e = assertThrows(IllegalArgumentException.class, () -> other.newState(8, mine));
            assertTrue(e.getMessage().contains("another model"), e.getMessage());
            HybridCache foreign = new HybridCache(other.config, other.kvCacheDtype(), 8, mine);
            assertThrows(IllegalArgumentException.class, () -> other.forwardLast(new int[] {1}, foreign));
            assertThrows(IllegalArgumentException.class, () -> other.decodeBatch(new int[] {1}, new SequenceState[] {foreign}));
        }
    }

    static String refusal(org.junit.jupiter.api.function.Executable load) {
        RuntimeException e = assertThrows(RuntimeException.class, load);
        assertTrue(e instanceof CheckpointException || e instanceof IllegalArgumentException, e.toString());
        assertTrue(!e.getMessage().contains("\n"), "one line: " + e.getMessage());
        return e.getMessage();
    }
}
