package dev.nemoh.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code nemoh finetune} end to end on the bundled tiny model, in-process. */
class FinetuneCommandTest {
    private static Path toy(Path dir) throws IOException {
        Path data = dir.resolve("toy.jsonl");
        Files.writeString(data, """
                {"input": "ping:", "output": " pong pong"}
                {"input": "tick:", "output": " tock"}
                """);
        return data;
    }

    @Test
    void loraFromARecipeLearnsAndTheMergedModelGeneratesThePattern(@TempDir Path dir) throws IOException {
        Path recipe = dir.resolve("recipe.yaml");
        Files.writeString(recipe, "peft: lora\nr: 8\nlr: 1.0e-2\nschedule: constant\nsteps: 400\nbatch_size: 2\n"
                + "merge: false\n");
        Path out = dir.resolve("out");
        CliTest.Run r = CliTest.run("finetune", "--recipe", recipe.toString(), "--model", CliTest.TINY,
                "--data", toy(dir).toString(), "--out", out.toString(), "--steps", "40", "--merge");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("40 steps of 2 rows"), r.err()); // --steps on the command line beat the recipe's
        assertTrue(Files.exists(out.resolve("adapter/adapter_config.json")), r.err());
        assertEquals(dev.nemoh.train.LossPlot.canDraw(), Files.exists(out.resolve("loss.png")), r.err());
        List<String> csv = Files.readAllLines(out.resolve("loss.csv"));
        double first = Double.parseDouble(csv.get(1).split(",")[1]);
        double last = Double.parseDouble(csv.getLast().split(",")[1]);
        assertTrue(first > 4 && last < 0.05 * first, "loss " + first + " -> " + last);

        CliTest.Run gen = CliTest.run("generate", "--model", out.resolve("merged").toString(), "--prompt", "tick:",
                "--max-tokens", "8");
        assertEquals(0, gen.code(), gen.err());
        assertEquals("tock", gen.out().strip());
    }

    @Test
    void rerunningResumesFromTheLatestCheckpointOnTheSameCurve(@TempDir Path dir) throws IOException {
        Path data = toy(dir), out = dir.resolve("out");
        String[] args = {"finetune", "--model", CliTest.TINY, "--data", data.toString(), "--out", out.toString(),
                "--peft", "none", "--steps", "6", "--save-every", "4", "--lr", "1e-3", "--eval-fraction", "0.5"};
        assertEquals(0, CliTest.run(args).code());
        List<String> first = withoutRate(out.resolve("loss.csv"));
        assertTrue(Files.exists(out.resolve("model/model.safetensors")));
        CliTest.Run again = CliTest.run(args);
        assertEquals(0, again.code(), again.err());
        assertTrue(again.err().contains("resumed from " + out.resolve("checkpoint-4") + " at step 4 of 6"), again.err());
        assertEquals(first, withoutRate(out.resolve("loss.csv")));
        assertEquals(7, first.size());
    }

    private static List<String> withoutRate(Path csv) throws IOException {
        return Files.readAllLines(csv).stream().map(l -> l.substring(0, l.lastIndexOf(','))).toList();
    }

    @Test
    void badOptionsGetOneLineErrors(@TempDir Path dir) throws IOException {
        Path data = toy(dir);
        String[] base = {"finetune", "--model", CliTest.TINY, "--data", data.toString(), "--out", dir.resolve("o").toString()};
        assertError("unknown --peft 'qlora': use lora, dora or none", base, "--peft", "qlora");
        assertError("--merge is for adapters", base, "--peft", "none", "--merge");
        assertError("unknown schedule 'step': use constant, linear or cosine", base, "--schedule", "step");
        assertError("missing --data FILE", new String[]{"finetune", "--out", "x"});
        assertError("unknown LoRA target module 'gate_proj'", base, "--targets", "gate_proj");
        Files.writeString(dir.resolve("r.yaml"), "learning_rate: 1\n");
        assertError("unknown key 'learning_rate'", base, "--recipe", dir.resolve("r.yaml").toString());
        Files.writeString(dir.resolve("bad.jsonl"), "{\"input\": \"a\", \"output\": \"b\"}\nnot json\n");
        assertError("bad.jsonl:2: not valid JSON", new String[]{"finetune", "--model", CliTest.TINY, "--data",
                dir.resolve("bad.jsonl").toString(), "--out", dir.resolve("o").toString()});
    }

    private static void assertError(String expected, String[] base, String... more) {
        String[] args = java.util.stream.Stream.concat(java.util.Arrays.stream(base), java.util.Arrays.stream(more))
                .toArray(String[]::new);
        CliTest.Run r = CliTest.run(args);
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().startsWith("error: ") && r.err().contains(expected), r.err());
        assertEquals(1, r.err().strip().lines().count(), r.err());
    }
}
