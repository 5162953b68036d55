package dev.nemoh.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.nemoh.Fixtures;
import dev.nemoh.io.SafetensorsFile;
import dev.nemoh.model.NemotronHModel;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * LoRA and DoRA against PEFT 0.21 on the dense fixtures: the PEFT adapters load and give PEFT's logits, step-0
 * adapter gradients, three torch AdamW steps (losses and weights), and the merged model's logits.
 */
class LoraFixtureTest {
    static final double TOL = 1e-4;

    /** The fixture's name for one of our parameters: PEFT's in-memory name, with its adapter name "default". */
    static String peftName(Parameter p) {
        String n = PeftAdapter.PREFIX + p.name;
        return n.endsWith(".lora_magnitude_vector") ? n + ".default.weight" : n.replace(".weight", ".default.weight");
    }

    static void assertClose(String what, float[] actual, float[] expected) {
        double rel = TrainingFixtures.relative(actual, expected);
        System.out.printf("  %s: rel %.2g, max abs %.2g%n", what, rel, Fixtures.maxAbs(actual, expected));
        assertTrue(rel < TOL, what + " relative error " + rel);
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
            System.out.println(fixture + " " + kind);
            assertClose("step-0 logits", model.logits(ids[0]), ref.get(kind + ".logits.0").toFloatArray());

            List<Parameter> params = model.parameters();
            AdamW opt = new AdamW(params, 0.9, 0.95, 1e-8, 0.1);
            model.setTraining(true);
            for (int step = 0; step < 3; step++) {
                double loss = model.lossAndBackward(ids, labels, targets).mean();
                double expected = ref.get(kind + ".loss." + step).getFloat(0);
                double lossRel = Math.abs(loss - expected) / expected;
                System.out.printf("  loss %d: %.7f vs %.7f (rel %.2g)%n", step, loss, expected, lossRel);
                assertTrue(lossRel < TOL, kind + " loss " + step + " relative error " + lossRel);
                if (step == 0) {
                    double worst = 0;
                    for (Parameter p : params) {
                        double rel = TrainingFixtures.relative(p.grad, ref.get(kind + ".grad0." + peftName(p)).toFloatArray());
                        assertTrue(rel < TOL, kind + " step-0 gradient of " + p.name + " relative error " + rel);
                        worst = Math.max(worst, rel);
                    }
                    System.out.printf("  step-0 gradients of %d tensors: worst rel %.2g%n", params.size(), worst);
                }
                opt.step(1e-3);
                params.forEach(Parameter::zeroGrad);
            }
            double worst = 0;
            for (Parameter p : params) {
                double rel = TrainingFixtures.relative(p.value, ref.get(kind + ".after3." + peftName(p)).toFloatArray());
                assertTrue(rel < TOL, kind + " " + p.name + " after 3 AdamW steps: relative error " + rel);
                worst = Math.max(worst, rel);
            }
            System.out.printf("  weights after 3 AdamW steps: worst rel %.2g%n", worst);

            model.mergeAndExport(tmp.resolve("merged"), true);
            try (NemotronHModel merged = NemotronHModel.load(tmp.resolve("merged"))) {
                assertClose("merged logits", merged.forward(ids[0], null), ref.get(kind + ".merged_logits").toFloatArray());
            }
        }
    }
}
