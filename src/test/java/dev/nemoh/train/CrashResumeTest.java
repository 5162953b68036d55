package dev.nemoh.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.nemoh.io.SafetensorsFile;
import dev.nemoh.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Crash safety of fine-tuning with real kills: {@code nemoh finetune} (LoRA with dropout, eval rows) runs in a child
 * JVM and is killed with SIGKILL ({@link Process#destroyForcibly()}) at seeded moments around its checkpoint writes;
 * after every kill the same command runs again into the same {@code --out}, resuming from the latest checkpoint, and
 * after the last kill it runs to the end. Each kill falls, by a seeded choice, while a checkpoint is being written
 * (as soon as its temporary directory appears), just after one is renamed into place, or at a random moment between
 * two. After every kill each {@code checkpoint-N} directory must be complete (state, both safetensors files with
 * every tensor, the loss curve up to N), the rerun must resume from the highest of them, and at the end
 * {@code loss.csv} must equal, row for row and bit for bit (all but the tok/s column), that of one uninterrupted run
 * with the same seed, as must the adapter's weights.
 *
 * <p>{@code -Dnemoh.crash.kills=N} (default 5: 24 steps, under a minute on the 2-core VM unless other work loads it) and {@code -Dnemoh.crash.seed=S}
 * (default 1) set the length of the run; the run grows with N (4 steps per kill, checkpoints every 2).
 */
class CrashResumeTest {
    static final int KILLS = Integer.getInteger("nemoh.crash.kills", 5);
    static final long SEED = Long.getLong("nemoh.crash.seed", 1);
    static final int SAVE_EVERY = 2;

    /** A running child and the lines it has printed so far. */
    record Child(Process process, List<String> lines) {
        boolean printed(String text) {
            synchronized (lines) {
                return lines.stream().anyMatch(l -> l.contains(text));
            }
        }

        String output() {
            synchronized (lines) {
                return String.join("\n", lines);
            }
        }
    }

    static Child start(Path out, int steps) throws IOException {
        String java = ProcessHandle.current().info().command()
                .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        List<String> cmd = new ArrayList<>(List.of(java, "--add-modules", "jdk.incubator.vector",
                "--enable-native-access=ALL-UNNAMED", "-Xss4m",
                "-Dnemoh.native=" + System.getProperty("nemoh.native", "true"),
                "-cp", System.getProperty("java.class.path"), "dev.nemoh.cli.Main",
                "finetune", "--model", "models/nemoh-tiny", "--data", "examples/finetune/toy.jsonl",
                "--out", out.toString(), "--steps", Integer.toString(steps), "--save-every", Integer.toString(SAVE_EVERY),
                "--peft", "lora", "--r", "4", "--dropout", "0.1", "--lr", "1e-3", "--schedule", "cosine", "--warmup", "2",
                "--batch-size", "1", "--eval-fraction", "0.34", "--eval-every", "4", "--seed", "7"));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        List<String> lines = Collections.synchronizedList(new ArrayList<>());
        Thread reader = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) lines.add(line);
            } catch (IOException e) {
                lines.add("(reading the child's output failed: " + e + ")");
            }
        });
        reader.setDaemon(true);
        reader.start();
        return new Child(p, lines);
    }

    /** Polls {@code condition} every 0.2 ms; false if the child ended or a minute passed first. */
    static boolean await(Child c, BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!condition.getAsBoolean()) {
            if (!c.process().isAlive() || System.nanoTime() > deadline) return false;
            Thread.sleep(0, 200_000);
        }
        return true;
    }

    static int stepOf(Path checkpoint) {
        return Integer.parseInt(checkpoint.getFileName().toString().substring("checkpoint-".length()));
    }

    static List<Path> checkpoints(Path out) throws IOException {
        try (Stream<Path> s = Files.list(out)) {
            return s.filter(p -> p.getFileName().toString().matches("checkpoint-\\d+"))
                    .sorted(java.util.Comparator.comparingInt(CrashResumeTest::stepOf)).toList();
        }
    }

    static List<Path> leftovers(Path out) throws IOException {
        try (Stream<Path> s = Files.list(out)) {
            return s.filter(p -> p.getFileName().toString().startsWith(".checkpoint-")).toList();
        }
    }

    /** Everything a resume reads is there and whole. */
    static void assertComplete(Path dir) throws IOException {
        int step = stepOf(dir);
        JsonNode state = new ObjectMapper().readTree(dir.resolve("trainer_state.json").toFile());
        assertEquals(step, state.path("step").asInt(), dir.toString());
        assertTrue(state.path("run").has("base_model"), dir + ": the run's fingerprint");
        int tensors = -1;
        for (String file : List.of("trainable.safetensors", "optimizer.safetensors")) {
            try (SafetensorsFile f = SafetensorsFile.open(dir.resolve(file))) {
                for (Tensor t : f.tensors().values()) {
                    for (float v : t.toFloatArray()) assertTrue(Float.isFinite(v), dir + "/" + file + ": " + t.name());
                }
                int n = f.tensors().size();
                if (tensors < 0) tensors = n;
                else assertEquals(2 * tensors, n, dir + ": two AdamW moments per trainable tensor");
            }
        }
        assertTrue(tensors > 0, dir.toString());
        assertEquals(step, LossCurve.read(dir.resolve("loss.csv")).rows().size(), dir + "/loss.csv");
    }

    static List<String> withoutRate(Path csv) throws IOException {
        return Files.readAllLines(csv).stream().map(l -> l.substring(0, l.lastIndexOf(','))).toList();
    }

    @Test
    void killedRunsResumeFromTheLastCompleteCheckpointOntoTheUninterruptedCurve(@TempDir Path tmp) throws Exception {
        long t0 = System.nanoTime();
        int steps = 4 * KILLS + 4; // a kill moves on by at most two checkpoints, four steps
        Path whole = tmp.resolve("whole"), killed = tmp.resolve("killed");
        Child reference = start(whole, steps);
        assertTrue(reference.process().waitFor(10, TimeUnit.MINUTES));
        assertEquals(0, reference.process().exitValue(), reference.output());

        Random random = new Random(SEED);
        String[] moments = {"while writing", "just after renaming", "between writes"};
        int[] byMoment = new int[3];
        int midWrite = 0, resumes = 0;
        int latest = 0;
        for (int kill = 0; kill < KILLS; kill++) {
            // a checkpoint two or four steps on, whose temporary directory no earlier kill left behind
            int target = Math.min(latest + SAVE_EVERY * (1 + random.nextInt(2)), steps - SAVE_EVERY);
            while (Files.exists(killed.resolve(".checkpoint-" + target + ".tmp")) && target + SAVE_EVERY < steps) {
                target += SAVE_EVERY;
            }
            int moment = random.nextInt(3);
            int delayMicros = random.nextInt(moment == 0 ? 500 : moment == 1 ? 2_000 : 250_000);
            Path tmpDir = killed.resolve(".checkpoint-" + target + ".tmp"), dir = killed.resolve("checkpoint-" + target);
            int before = target - SAVE_EVERY, resumedFrom = latest;
            Child c = start(killed, steps);
            boolean reached = switch (moment) {
                case 0 -> await(c, () -> Files.exists(tmpDir));
                case 1 -> await(c, () -> Files.exists(dir));
                default -> await(c, () -> before > resumedFrom ? Files.exists(killed.resolve("checkpoint-" + before))
                        : c.printed(resumedFrom > 0 ? "resumed from" : "trainable parameters"));
            };
            assertTrue(reached, "kill " + kill + " (" + moments[moment] + " checkpoint-" + target + "): the run ended or"
                    + " stalled first:\n" + c.output());
            TimeUnit.MICROSECONDS.sleep(delayMicros);
            c.process().destroyForcibly();
            assertTrue(c.process().waitFor(1, TimeUnit.MINUTES));
            assertNotEquals(0, c.process().exitValue(), "kill " + kill + ": the run finished before the kill");
            byMoment[moment]++;
            if (latest > 0) {
                assertTrue(c.printed("resumed from " + killed.resolve("checkpoint-" + latest) + " at step " + latest + " "),
                        "kill " + kill + ": the run should have resumed from checkpoint-" + latest + ":\n" + c.output());
                resumes++;
            }

            // every checkpoint the kill left is whole, and the next run must take the highest
            List<Path> saved = checkpoints(killed);
            for (Path p : saved) assertComplete(p);
            int printed = c.lines().stream().filter(l -> l.startsWith("saved ")).mapToInt(l -> stepOf(Path.of(l.substring(6))))
                    .max().orElse(latest);
            int highest = saved.isEmpty() ? 0 : stepOf(saved.getLast());
            assertTrue(highest >= printed, "checkpoint-" + printed + " was reported saved but the highest is " + highest);
            assertEquals(saved.isEmpty() ? null : saved.getLast(), TrainingCheckpoint.latest(killed).orElse(null));
            if (leftovers(killed).stream().anyMatch(p -> p.equals(tmpDir))) midWrite++;
            latest = highest;
        }

        Child last = start(killed, steps);
        assertTrue(last.process().waitFor(10, TimeUnit.MINUTES));
        assertEquals(0, last.process().exitValue(), last.output());
        assertTrue(last.printed("resumed from " + killed.resolve("checkpoint-" + latest) + " at step " + latest + " "),
                last.output());
        resumes++;

        List<String> expected = withoutRate(whole.resolve("loss.csv"));
        assertEquals(steps + 1, expected.size());
        assertEquals(expected, withoutRate(killed.resolve("loss.csv")), "the resumed runs' loss curve");
        assertArrayEquals(Files.readAllBytes(whole.resolve("adapter/adapter_model.safetensors")),
                Files.readAllBytes(killed.resolve("adapter/adapter_model.safetensors")), "the trained adapter");
        System.out.printf(Locale.ROOT, "crash test (seed %d): %d kills (%d while writing a checkpoint, %d just after"
                        + " renaming one, %d between writes; %d left a half-written temporary directory), %d resumes,"
                        + " %d steps, loss.csv and adapter equal to the uninterrupted run's; %.1f s%n", SEED, KILLS,
                byMoment[0], byMoment[1], byMoment[2], midWrite, resumes, steps, (System.nanoTime() - t0) / 1e9);
    }
}
