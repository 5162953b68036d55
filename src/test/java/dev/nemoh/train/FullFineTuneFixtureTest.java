package dev.nemoh.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import dev.nemoh.Fixtures;
import dev.nemoh.Tolerance;
import dev.nemoh.io.SafetensorsFile;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Loss and every parameter's gradient against transformers' autograd on the dense fixtures, within about ten times
 * the relative errors measured per fixture ({@link Tolerance}).
 */
class FullFineTuneFixtureTest {
    /**
     * |loss − ref| / ref. nano-v2-tiny measured 3.1e-9, below the rounding of the float32 reference itself (2^-24 ≈
     * 6e-8), which stands in for it: a bound under one float32 step of the reference would test luck.
     */
    static final Map<String, Double> LOSS = Tolerance.measured("nemotron-h-tiny", 2.7e-8, "nano-v2-tiny", 6.0e-8);
    /** The worst parameter's ‖grad − ref‖ / ‖ref‖. */
    static final Map<String, Double> GRAD = Tolerance.measured("nemotron-h-tiny", 7.5e-6, "nano-v2-tiny", 5.3e-6);

    @ParameterizedTest
    @ValueSource(strings = {"nemotron-h-tiny", "nano-v2-tiny"})
    void lossAndEveryGradientMatchTransformers(String fixture) {
        try (SafetensorsFile ref = TrainingFixtures.open(fixture)) {
            FullFineTune model = FullFineTune.load(Fixtures.model(fixture));
            int[][] ids = TrainingFixtures.rows(ref.get("input_ids"));
            int[][] labels = TrainingFixtures.rows(ref.get("labels"));
            long targets = TrainingFixtures.targets(labels);
            TrainableModel.LossSum loss = model.lossAndBackward(ids, labels, targets);
            double expected = ref.get("loss").getFloat(0);
            double lossRel = Math.abs(loss.mean() - expected) / Math.abs(expected);
            assertEquals(targets, loss.targets());
            Tolerance.check(fixture + " LOSS", lossRel, Tolerance.of(LOSS, fixture));

            Set<String> expectedNames = new TreeSet<>();
            for (String n : ref.tensors().keySet()) if (n.startsWith("grad.")) expectedNames.add(n.substring(5));
            Set<String> ours = new TreeSet<>();
            double worst = 0;
            String worstName = "";
            for (Parameter p : model.parameters()) {
                String name = dev.nemoh.config.WeightSchema.modulePath(p.name);
                ours.add(name);
                assertNotNull(ref.tensors().get("grad." + name), "no reference gradient for " + name);
                float[] g = ref.get("grad." + name).toFloatArray();
                double rel = TrainingFixtures.relative(p.grad, g);
                if (rel > worst) {
                    worst = rel;
                    worstName = name;
                }
            }
            Tolerance.check(fixture + " GRAD (worst: " + worstName + ")", worst, Tolerance.of(GRAD, fixture));
            assertEquals(expectedNames, ours, "every parameter has a gradient and every gradient a parameter");
        }
    }
}
