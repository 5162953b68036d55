package dev.nemoh.train;

import dev.nemoh.config.LoraConfig;
import dev.nemoh.tokenizer.Tokenizer;
import dev.nemoh.train.data.SftDataset;
import dev.nemoh.train.data.SftExample;
import dev.nemoh.train.data.StepPlan;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The acceptance checks on the bundled random-weight model (269K parameters, 320-token vocabulary). */
class FineTuneAcceptanceTest {
    static final Path TINY = Path.of("models/nemoh-tiny");
    static final Tokenizer TOK = Tokenizer.load(TINY);
    static final String DATA = """
            {"input": "ping:", "output": " pong pong"}
            {"input": "tick:", "output": " tock"}
            """;

    static List<SftExample> toyTask(Path dir) throws IOException {
        Path f = dir.resolve("toy.jsonl");
        Files.writeString(f, DATA);
        return SftDataset.read(f, TOK, List.of(2), 64).examples();
    }

    static Trainer trainer(TrainableModel model, List<SftExample> rows, LrSchedule schedule, int saveEvery, Path out) {
        Trainer.Settings s = new Trainer.Settings(schedule, 1.0, 0, 0, saveEvery, 2, 42);
        return new Trainer(model, new StepPlan(rows, 2, 1, 42), rows, s, out,
                new PrintStream(new ByteArrayOutputStream()), false);
    }

    /** Greedy decoding through uncached forwards, up to EOS. */
    static String greedy(Function<int[], float[]> logits, String prompt) {
        int[] ids = TOK.encode(prompt, true);
        for (int n = 0; n < 12; n++) {
            float[] all = logits.apply(ids);
            int best = 0;
            for (int v = 1; v < TOK.vocabSize(); v++) {
                if (all[(ids.length - 1) * TOK.vocabSize() + v] > all[(ids.length - 1) * TOK.vocabSize() + best]) best = v;
            }
            if (best == 2) break;
            ids = Arrays.copyOf(ids, ids.length + 1);
            ids[ids.length - 1] = best;
        }
        return TOK.decode(ids, false);
    }

    @Test
    void fullFineTuningLearnsTheToyTaskAndGeneratesIt(@TempDir Path out) throws IOException {
        FullFineTune model = FullFineTune.load(TINY);
        List<LossCurve.Row> curve = trainer(model, toyTask(out), new LrSchedule(LrSchedule.Kind.CONSTANT, 3e-3, 0, 30), 0, out)
                .train(null).rows();
        double first = curve.getFirst().trainLoss(), last = curve.getLast().trainLoss();
        System.out.printf("full fine-tuning, toy task: loss %.4f -> %.4f in %d steps%n", first, last, curve.size());
        assertTrue(first > 4, "random model starts near ln 320 = 5.77: " + first);
        assertTrue(last < 0.05 * first, "loss " + first + " -> " + last);
        assertEquals("<s>ping: pong pong", greedy(model::logits, "ping:"));
        assertEquals("<s>tick: tock", greedy(model::logits, "tick:"));
    }

    @Test
    void fullFineTuningResumesOnTheSameCurve(@TempDir Path tmp) throws IOException {
        List<SftExample> rows = toyTask(tmp);
        LrSchedule schedule = new LrSchedule(LrSchedule.Kind.COSINE, 3e-3, 1, 6);
        Path whole = Files.createDirectory(tmp.resolve("whole")), killed = Files.createDirectory(tmp.resolve("killed"));
        trainer(FullFineTune.load(TINY), rows, schedule, 2, whole).train(null);
        assertThrows(IllegalStateException.class, () ->
                trainer(new KilledAfter(FullFineTune.load(TINY), 4), rows, schedule, 2, killed).train(null));
        trainer(FullFineTune.load(TINY), rows, schedule, 2, killed).train(TrainingCheckpoint.latest(killed).orElseThrow());
        assertEquals(TrainerTest.withoutRate(whole.resolve("loss.csv")), TrainerTest.withoutRate(killed.resolve("loss.csv")));
    }

    @Test
    void loraWithDropoutResumesOnTheSameCurve(@TempDir Path tmp) throws IOException {
        List<SftExample> rows = toyTask(tmp);
        LrSchedule schedule = new LrSchedule(LrSchedule.Kind.LINEAR, 1e-2, 1, 6);
        LoraConfig config = new LoraConfig(4, 8, 0.1, List.of("in_proj", "q_proj", "up_proj"), false, true, 7);
        Path whole = Files.createDirectory(tmp.resolve("whole")), killed = Files.createDirectory(tmp.resolve("killed"));
        trainer(LoraModel.create(TINY, config), rows, schedule, 2, whole).train(null);
        assertThrows(IllegalStateException.class, () ->
                trainer(new KilledAfter(LoraModel.create(TINY, config), 5), rows, schedule, 2, killed).train(null));
        trainer(LoraModel.create(TINY, config), rows, schedule, 2, killed).train(TrainingCheckpoint.latest(killed).orElseThrow());
        List<String> curve = TrainerTest.withoutRate(whole.resolve("loss.csv"));
        assertEquals(curve, TrainerTest.withoutRate(killed.resolve("loss.csv")));
        assertTrue(Double.parseDouble(curve.getLast().split(",")[1]) < Double.parseDouble(curve.get(1).split(",")[1]));
    }
}
