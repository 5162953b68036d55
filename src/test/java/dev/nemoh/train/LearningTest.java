package dev.nemoh.train;

import dev.nemoh.config.LoraConfig;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The gradients, the optimizer and the adapters together make the bundled tiny model learn a sequence by heart. */
class LearningTest {
    static final Path TINY = Path.of("models/nemoh-tiny");
    static final int[][] IDS = {{12, 200, 45, 45, 7, 300, 18, 99, 2, 160, 71, 33, 250, 5, 19, 88}};

    private static double[] train(TrainableModel model, double lr, int steps) {
        AdamW opt = new AdamW(model.parameters(), 0.9, 0.95, 1e-8, 0.0);
        model.setTraining(true);
        double first = model.loss(IDS, IDS).mean();
        for (int s = 0; s < steps; s++) {
            model.lossAndBackward(IDS, IDS, IDS[0].length - 1);
            opt.step(lr);
            model.parameters().forEach(Parameter::zeroGrad);
        }
        model.setTraining(false);
        return new double[] {first, model.loss(IDS, IDS).mean()};
    }

    @Test
    void fullFineTuneMemorisesASequence() {
        double[] loss = train(FullFineTune.load(TINY), 1e-2, 30);
        System.out.printf("full fine-tune: loss %.3f -> %.3f%n", loss[0], loss[1]);
        assertTrue(loss[0] > 5 && loss[1] < 0.5, "loss " + loss[0] + " -> " + loss[1]);
    }

    @Test
    void loraWithDropoutMemorisesASequence() {
        LoraModel model = LoraModel.create(TINY, new LoraConfig(8, 16, 0.05, List.of("in_proj", "out_proj", "up_proj", "down_proj"), true, false, 3));
        double[] loss = train(model, 1e-2, 60);
        System.out.printf("rsLoRA with dropout: loss %.3f -> %.3f%n", loss[0], loss[1]);
        assertTrue(loss[0] > 5 && loss[1] < 1, "loss " + loss[0] + " -> " + loss[1]);
    }
}
