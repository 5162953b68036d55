package dev.nemoh.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.nemoh.Fixtures;
import dev.nemoh.io.SafetensorsFile;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Loss and every parameter's gradient against transformers' autograd on the dense fixtures. */
class FullFineTuneFixtureTest {
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
            System.out.printf("%s loss %.7f vs %.7f (rel %.2g)%n", fixture, loss.mean(), expected, lossRel);
            assertEquals(targets, loss.targets());
            assertTrue(lossRel < 1e-5, fixture + " loss relative error " + lossRel);

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
                double maxAbs = Fixtures.maxAbs(p.grad, g);
                assertTrue(rel < 1e-4, fixture + " grad " + name + " relative error " + rel + ", max abs " + maxAbs);
                if (rel > worst) {
                    worst = rel;
                    worstName = name;
                }
            }
            System.out.printf("%s worst gradient %s: rel %.2g%n", fixture, worstName, worst);
            assertEquals(expectedNames, ours, "every parameter has a gradient and every gradient a parameter");
        }
    }
}
