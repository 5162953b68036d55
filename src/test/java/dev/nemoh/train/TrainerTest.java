package dev.nemoh.train;

import dev.nemoh.train.data.SftExample;
import dev.nemoh.train.data.StepPlan;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The loop on a bigram model that learns x -> (3x + 1) mod 8. */
class TrainerTest {
    private static final int V = 8;

    /** One row per start token: the chain of the map, the first label ignored as a prompt. */
    static List<SftExample> chains(int length) {
        List<SftExample> rows = new ArrayList<>();
        for (int start = 0; start < V; start++) {
            int[] ids = new int[length];
            ids[0] = start;
            for (int t = 1; t < length; t++) ids[t] = (3 * ids[t - 1] + 1) % V;
            int[] labels = ids.clone();
            labels[0] = SftExample.IGNORE;
            rows.add(new SftExample(ids, labels));
        }
        return rows;
    }

    private static Trainer trainer(TrainableModel model, int batch, int accum, LrSchedule schedule, int saveEvery,
                                   Path out) {
        StepPlan plan = new StepPlan(chains(6), batch, accum, 42);
        Trainer.Settings s = new Trainer.Settings(schedule, 1.0, 0.01, 3, saveEvery, 4, 42);
        return new Trainer(model, plan, chains(4).subList(0, 2), s, out, new PrintStream(new ByteArrayOutputStream()),
                false);
    }

    @Test
    void lossFallsFarBelowItsStart(@TempDir Path out) {
        BigramModel model = new BigramModel(V, 0);
        LrSchedule schedule = new LrSchedule(LrSchedule.Kind.COSINE, 0.5, 2, 40);
        List<LossCurve.Row> rows = trainer(model, 2, 2, schedule, 0, out).train(null).rows();
        assertEquals(40, rows.size());
        assertEquals(Math.log(V), rows.getFirst().trainLoss(), 0.02); // near-uniform logits at the start
        assertEquals(0.0, rows.getFirst().lr());                     // warmup starts at 0, as in transformers
        assertTrue(rows.getLast().trainLoss() < 0.1 * rows.getFirst().trainLoss(), rows.getLast().toString());
        assertTrue(rows.getLast().evalLoss() < 0.2, rows.getLast().toString());
        // the chart only where the runtime can draw text (training warns and goes on without it elsewhere)
        assertTrue(Files.exists(out.resolve("loss.csv")) && Files.exists(out.resolve("loss.png")) == LossPlot.canDraw());
        assertEquals(rows.getLast().step(), LossCurve.read(out.resolve("loss.csv")).rows().getLast().step());
    }

    @Test
    void accumulatedMicroBatchesEqualOneLargeBatch(@TempDir Path out) throws IOException {
        LrSchedule schedule = new LrSchedule(LrSchedule.Kind.LINEAR, 0.3, 0, 6);
        BigramModel big = new BigramModel(V, 0), small = new BigramModel(V, 0);
        List<LossCurve.Row> a = trainer(big, 4, 1, schedule, 0, Files.createDirectory(out.resolve("a"))).train(null).rows();
        List<LossCurve.Row> b = trainer(small, 1, 4, schedule, 0, Files.createDirectory(out.resolve("b"))).train(null).rows();
        // one normalizer per step: the same float additions in the same order, so the same values to the bit
        assertArrayEquals(big.parameters().getFirst().value, small.parameters().getFirst().value);
        for (int i = 0; i < a.size(); i++) {
            assertEquals(a.get(i).trainLoss(), b.get(i).trainLoss(), 1e-12);
            assertEquals(a.get(i).gradNorm(), b.get(i).gradNorm(), 1e-12);
        }
    }

    @Test
    void killedAndResumedRunRepeatsTheUninterruptedCurve(@TempDir Path tmp) throws IOException {
        LrSchedule schedule = new LrSchedule(LrSchedule.Kind.COSINE, 0.4, 3, 12);
        Path whole = Files.createDirectory(tmp.resolve("whole")), killed = Files.createDirectory(tmp.resolve("killed"));
        BigramModel reference = new BigramModel(V, 0.1);
        trainer(reference, 2, 2, schedule, 4, whole).train(null);

        // two micro-batches a step: dies inside step 10, after checkpoint-8
        TrainableModel victim = new KilledAfter(new BigramModel(V, 0.1), 19);
        assertThrows(IllegalStateException.class, () -> trainer(victim, 2, 2, schedule, 4, killed).train(null));
        Path latest = TrainingCheckpoint.latest(killed).orElseThrow();
        assertEquals("checkpoint-8", latest.getFileName().toString());
        try (var files = Files.list(killed)) {
            assertFalse(files.anyMatch(p -> p.getFileName().toString().endsWith(".tmp")));
        }

        BigramModel resumed = new BigramModel(V, 0.1); // fresh: everything it needs comes from the checkpoint
        trainer(resumed, 2, 2, schedule, 4, killed).train(latest);
        assertEquals(withoutRate(whole.resolve("loss.csv")), withoutRate(killed.resolve("loss.csv")));
        assertArrayEquals(reference.parameters().getFirst().value, resumed.parameters().getFirst().value);
        assertEquals(13, Files.readAllLines(killed.resolve("loss.csv")).size());
    }

    @Test
    void aRunOutOfTimeStopsWithACheckpointAndTheSameCommandFinishesIt(@TempDir Path tmp) throws IOException {
        LrSchedule schedule = new LrSchedule(LrSchedule.Kind.COSINE, 0.4, 3, 12);
        Path whole = Files.createDirectory(tmp.resolve("whole")), timed = Files.createDirectory(tmp.resolve("timed"));
        BigramModel reference = new BigramModel(V, 0.1);
        trainer(reference, 2, 2, schedule, 0, whole).train(null);

        // a limit every step passes: each call trains one step and leaves its checkpoint
        for (int call = 1; call <= 3; call++) {
            LossCurve c = trainer(new BigramModel(V, 0.1), 2, 2, schedule, 0, timed).exitAfterMinutes(1e-9)
                    .train(TrainingCheckpoint.latest(timed).orElse(null));
            assertEquals(call, c.rows().getLast().step());
            assertEquals("checkpoint-" + call, TrainingCheckpoint.latest(timed).orElseThrow().getFileName().toString());
        }
        BigramModel finished = new BigramModel(V, 0.1);
        trainer(finished, 2, 2, schedule, 0, timed).train(TrainingCheckpoint.latest(timed).orElseThrow());
        assertEquals(withoutRate(whole.resolve("loss.csv")), withoutRate(timed.resolve("loss.csv")));
        assertArrayEquals(reference.parameters().getFirst().value, finished.parameters().getFirst().value);
        assertThrows(IllegalArgumentException.class, () -> trainer(finished, 2, 2, schedule, 0, timed).exitAfterMinutes(-1));
    }

    @Test
    void resumingWithOtherSettingsIsRefused(@TempDir Path out) {
        trainer(new BigramModel(V, 0), 2, 2, new LrSchedule(LrSchedule.Kind.LINEAR, 0.4, 0, 4), 2, out).train(null);
        Path cp = TrainingCheckpoint.latest(out).orElseThrow();
        var e = assertThrows(IllegalArgumentException.class, () -> trainer(new BigramModel(V, 0), 2, 2,
                new LrSchedule(LrSchedule.Kind.LINEAR, 0.2, 0, 4), 2, out).train(cp));
        assertTrue(e.getMessage().contains("lr (0.4 then, 0.2 now)"), e.getMessage());
    }

    @Test
    void aCheckpointOfAnotherOptimizerOrPrecisionIsRefused(@TempDir Path out) throws IOException {
        LrSchedule schedule = new LrSchedule(LrSchedule.Kind.LINEAR, 0.4, 0, 4);
        trainer(new BigramModel(V, 0), 2, 2, schedule, 2, out).train(null);
        Path cp = TrainingCheckpoint.latest(out).orElseThrow();
        Path state = cp.resolve("trainer_state.json");
        // what a checkpoint of a build with other AdamW constants or another precision would hold
        Files.writeString(state, Files.readString(state).replace("\"betas\" : \"0.9,0.999\"", "\"betas\" : \"0.9,0.95\"")
                .replace("\"eps\" : 1.0E-8", "\"eps\" : 1.0E-6").replace("\"precision\" : \"float32\"", "\"precision\" : \"bfloat16\""));
        var e = assertThrows(IllegalArgumentException.class,
                () -> trainer(new BigramModel(V, 0), 2, 2, schedule, 2, out).train(cp));
        assertTrue(e.getMessage().contains("precision (bfloat16 then, float32 now)")
                && e.getMessage().contains("betas (0.9,0.95 then, 0.9,0.999 now)")
                && e.getMessage().contains("eps (1.0E-6 then, 1.0E-8 now)"), e.getMessage());
    }

    @Test
    void aCheckpointThatPredatesTheFullCheckIsRefusedAsSuch(@TempDir Path out) throws IOException {
        LrSchedule schedule = new LrSchedule(LrSchedule.Kind.LINEAR, 0.4, 0, 4);
        trainer(new BigramModel(V, 0), 2, 2, schedule, 2, out).train(null);
        Path cp = TrainingCheckpoint.latest(out).orElseThrow();
        Path state = cp.resolve("trainer_state.json");
        // the state as nemoh wrote it before the check covered the base model and every setting
        var json = (com.fasterxml.jackson.databind.node.ObjectNode) new com.fasterxml.jackson.databind.ObjectMapper()
                .readTree(state.toFile());
        json.remove("fingerprint_version");
        Files.writeString(state, json.toString());
        var e = assertThrows(IllegalArgumentException.class,
                () -> trainer(new BigramModel(V, 0), 2, 2, schedule, 2, out).train(cp));
        assertTrue(e.getMessage().contains("written by an older nemoh") && e.getMessage().contains("new --out"),
                e.getMessage());
    }

    /** The CSV without its last column (tok/s depends on the machine's speed at that moment). */
    static List<String> withoutRate(Path csv) throws IOException {
        return Files.readAllLines(csv).stream().map(l -> l.substring(0, l.lastIndexOf(','))).toList();
    }

    @Test
    void dropoutSeedsDependOnTheStep() {
        BigramModel m = new BigramModel(V, 0.5);
        m.setTraining(true);
        int[][] ids = {chains(6).getFirst().ids()};
        int[][] labels = {chains(6).getFirst().labels()};
        m.seedDropout(1);
        double first = m.lossAndBackward(ids, labels, 1).sum();
        m.seedDropout(1);
        assertEquals(first, m.lossAndBackward(ids, labels, 1).sum());
        m.seedDropout(2);
        assertTrue(first != m.lossAndBackward(ids, labels, 1).sum(), Arrays.toString(ids[0]));
    }
}
