package dev.nemoh.train;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.nemoh.Fixtures;
import dev.nemoh.Tolerance;
import dev.nemoh.io.PeftAdapter;
import dev.nemoh.io.SafetensorsFile;
import dev.nemoh.model.NemotronHModel;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * LoRA and DoRA against PEFT 0.21 on the dense fixtures: the PEFT adapters load and give PEFT's logits, step-0
 * adapter gradients, three torch AdamW steps (losses and weights), and the merged model's logits.
 */
class LoraFixtureTest {
    /**
     * Relative errors ‖ours − ref‖ / ‖ref‖ measured per fixture and kind (worst tensor or step where there are
     * several); each bound is about ten times its measurement ({@link Tolerance}).
     */
    static final Map<String, Double> LOGITS = Tolerance.measured("nemotron-h-tiny lora", 8.7e-7, "nemotron-h-tiny dora", 1.3e-6,
            "nano-v2-tiny lora", 9.8e-7, "nano-v2-tiny dora", 9.4e-7);
    static final Map<String, Double> LOSS = Tolerance.measured("nemotron-h-tiny lora", 7.8e-8, "nemotron-h-tiny dora", 5.4e-8,
            "nano-v2-tiny lora", 7.0e-8, "nano-v2-tiny dora", 1.0e-7);
    static final Map<String, Double> GRAD0 = Tolerance.measured("nemotron-h-tiny lora", 2.6e-6, "nemotron-h-tiny dora", 5.2e-6,
            "nano-v2-tiny lora", 2.5e-6, "nano-v2-tiny dora", 3.1e-6);
    static final Map<String, Double> AFTER3 = Tolerance.measured("nemotron-h-tiny lora", 8.4e-7, "nemotron-h-tiny dora", 5.3e-7,
            "nano-v2-tiny lora", 5.3e-6, "nano-v2-tiny dora", 2.0e-6);
    static final Map<String, Double> MERGED = Tolerance.measured("nemotron-h-tiny lora", 9.6e-7, "nemotron-h-tiny dora", 1.1e-6,
            "nano-v2-tiny lora", 1.1e-6, "nano-v2-tiny dora", 9.5e-7);

    /** The fixture's name for one of our parameters: PEFT's in-memory name, with its adapter name "default". */
    static String peftName(Parameter p) {
        String n = PeftAdapter.PREFIX + p.name;
        return n.endsWith(".lora_magnitude_vector") ? n + ".default.weight" : n.replace(".weight", ".default.weight");
    }

    static void assertClose(String what, float[] actual, float[] expected, double measured) {
        Tolerance.check(what, TrainingFixtures.relative(actual, expected), measured);
    }

    @ParameterizedTest
    @CsvSource({"nemotron-h-tiny, lora", "nemotron-h-tiny, dora", "nano-v2-tiny, lora", "nano-v2-tiny, dora"})
    void adaptersMatchPeft(String fixture, String kind, @TempDir Path tmp) {
        try (SafetensorsFile ref = TrainingFixtures.open(fixture)) {
            LoraModel model = LoraModel.load(Fixtures.model(fixture), Fixtures.dir(fixture).resolve(kind + "_adapter"));
            assertEquals(kind.equals("dora"), model.config().useDora());
            int[][] ids = TrainingFixtures.rows(ref.get("input_ids"));
            int[][] labels = TrainingFixtures.rows(ref.get("labels"));
            long targets = TrainingFixtures.targets(labels);
            String key = fixture + " " + kind;
            assertClose(key + " LOGITS", model.logits(ids[0]), ref.get(kind + ".logits.0").toFloatArray(),
                    Tolerance.of(LOGITS, key));

            List<Parameter> params = model.parameters();
            AdamW opt = new AdamW(params, 0.9, 0.95, 1e-8, 0.1);
            model.setTraining(true);
            double worstLoss = 0;
            for (int step = 0; step < 3; step++) {
                double loss = model.lossAndBackward(ids, labels, targets).mean();
                double expected = ref.get(kind + ".loss." + step).getFloat(0);
                worstLoss = Math.max(worstLoss, Math.abs(loss - expected) / expected);
                if (step == 0) {
                    double worst = 0;
                    String worstName = "";
                    for (Parameter p : params) {
                        double rel = TrainingFixtures.relative(p.grad, ref.get(kind + ".grad0." + peftName(p)).toFloatArray());
                        if (rel > worst) {
                            worst = rel;
                            worstName = p.name;
                        }
                    }
                    Tolerance.check(key + " GRAD0 (worst of " + params.size() + " tensors: " + worstName + ")", worst,
                            Tolerance.of(GRAD0, key));
                }
                opt.step(1e-3);
                params.forEach(Parameter::zeroGrad);
            }
            Tolerance.check(key + " LOSS (worst of 3 AdamW steps)", worstLoss, Tolerance.of(LOSS, key));
            double worst = 0;
            for (Parameter p : params) {
                worst = Math.max(worst, TrainingFixtures.relative(p.value, ref.get(kind + ".after3." + peftName(p)).toFloatArray()));
            }
            Tolerance.check(key + " AFTER3 (worst tensor after 3 AdamW steps)", worst, Tolerance.of(AFTER3, key));

            model.mergeAndExport(tmp.resolve("merged"), true);
            try (NemotronHModel merged = NemotronHModel.load(tmp.resolve("merged"))) {
                assertClose(key + " MERGED", merged.forward(ids[0], null), ref.get(kind + ".merged_logits").toFloatArray(),
                        Tolerance.of(MERGED, key));
            }
        }
    }
}
