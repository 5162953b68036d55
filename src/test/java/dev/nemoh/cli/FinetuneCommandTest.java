package dev.nemoh.cli;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Collections;
import java.util.Map;
import java.util.stream.Stream;

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
        assertError("--r, --targets set adapters, and --peft none trains every weight", base, "--peft", "none", "--r", "4",
                "--targets", "q_proj");
        assertError("--eval-every needs held-out rows: add --eval-data FILE or --eval-fraction F", base, "--eval-every", "5");
        Files.writeString(dir.resolve("lora.yaml"), "alpha: 32\n");
        assertError("--alpha set adapters", base, "--recipe", dir.resolve("lora.yaml").toString(), "--peft", "none");
        Files.writeString(dir.resolve("r.yaml"), "learning_rate: 1\n");
        assertError("unknown key 'learning_rate'", base, "--recipe", dir.resolve("r.yaml").toString());
        Files.writeString(dir.resolve("bad.jsonl"), "{\"input\": \"a\", \"output\": \"b\"}\nnot json\n");
        assertError("bad.jsonl:2: not valid JSON", new String[]{"finetune", "--model", CliTest.TINY, "--data",
                dir.resolve("bad.jsonl").toString(), "--out", dir.resolve("o").toString()});
    }

    /** A LoRA run of 2 steps that saved checkpoint-1; every resume check below works on a copy of its --out. */
    @TempDir
    static Path shared;
    private static Path data, otherData, otherModel;

    @BeforeAll
    static void firstRun() throws IOException {
        data = toy(shared);
        otherData = shared.resolve("other.jsonl");
        Files.writeString(otherData, "{\"input\": \"ping:\", \"output\": \" pong\"}\n{\"input\": \"tick:\", \"output\": \" tock\"}\n");
        otherModel = sameLayoutOtherWeights(Path.of(CliTest.TINY), shared.resolve("other-model"));
        CliTest.Run r = CliTest.run(resumeArgs(shared.resolve("out"), Map.of()));
        assertEquals(0, r.code(), r.err());
        assertTrue(Files.isDirectory(shared.resolve("out/checkpoint-1")), r.err());
    }

    /** The first run's options, with {@code change} put over them (a null value: a bare flag; DROP: left out). */
    private static String[] resumeArgs(Path out, Map<String, String> change) {
        Map<String, String> o = new LinkedHashMap<>();
        o.put("--model", CliTest.TINY);
        o.put("--data", data.toString());
        o.put("--out", out.toString());
        o.put("--steps", "2");
        o.put("--save-every", "1");
        o.put("--lr", "1e-3");
        o.put("--r", "4");
        o.put("--alpha", "8");
        o.put("--targets", "q_proj,k_proj");
        o.putAll(change);
        List<String> args = new ArrayList<>(List.of("finetune"));
        o.forEach((k, v) -> {
            if ("DROP".equals(v)) return;
            args.add(k);
            if (v != null) args.add(v);
        });
        return args.toArray(String[]::new);
    }

    /** A copy of {@code model} with every weight nudged: the same tensors, shapes and sizes, other values. */
    static Path sameLayoutOtherWeights(Path model, Path copy) throws IOException {
        Files.createDirectories(copy);
        try (var files = Files.list(model)) {
            for (Path f : files.toList()) Files.copy(f, copy.resolve(f.getFileName()), StandardCopyOption.REPLACE_EXISTING);
        }
        Path weights = copy.resolve("model.safetensors");
        byte[] bytes = Files.readAllBytes(weights);
        long header = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getLong();
        for (long i = 8 + header; i < bytes.length; i += 2) bytes[(int) i] ^= 1; // lowest mantissa bit of each bf16
        Files.write(weights, bytes);
        return copy;
    }

    static Stream<Arguments> changedSettings() {
        return Stream.of(
                Arguments.of(Map.of("--alpha", "32"), "alpha (8.0 then, 32.0 now)"),
                Arguments.of(Map.of("--dropout", "0.1"), "dropout (0.0 then, 0.1 now)"),
                Arguments.of(Collections.singletonMap("--rslora", null), "rslora (false then, true now)"),
                Arguments.of(Map.of("--targets", "q_proj,v_proj"), "targets (k_proj,q_proj then, q_proj,v_proj now)"),
                Arguments.of(Map.of("--r", "8"), "r (4 then, 8 now)"),
                Arguments.of(Map.of("--peft", "dora"), "peft (lora then, dora now)"),
                Arguments.of(Map.of("--peft", "none", "--r", "DROP", "--alpha", "DROP", "--targets", "DROP"),
                        "peft (lora then, none now)"),
                Arguments.of(Map.of("--lr", "2e-3"), "lr (0.001 then, 0.002 now)"),
                Arguments.of(Map.of("--schedule", "cosine"), "schedule (linear then, cosine now)"),
                Arguments.of(Map.of("--warmup", "1"), "warmup (0 then, 1 now)"),
                Arguments.of(Map.of("--weight-decay", "0.01"), "weight_decay (0.0 then, 0.01 now)"),
                Arguments.of(Map.of("--clip", "0.5"), "clip (1.0 then, 0.5 now)"),
                Arguments.of(Map.of("--batch-size", "2"), "batch_size (1 then, 2 now)"),
                Arguments.of(Map.of("--grad-accum", "2"), "grad_accum (1 then, 2 now)"),
                Arguments.of(Map.of("--max-len", "256"), "max_len (512 then, 256 now)"),
                Arguments.of(Collections.singletonMap("--pack", null), "pack (false then, true now)"),
                Arguments.of(Map.of("--seed", "7"), "seed (42 then, 7 now)"),
                Arguments.of(Map.of("--steps", "3"), "steps (2 then, 3 now)"),
                Arguments.of(Map.of("--eval-every", "1", "--eval-fraction", "0.5"), "eval_every (0 then, 1 now)"),
                Arguments.of(Map.of("--eval-fraction", "0.5"), "eval_fraction (0.0 then, 0.5 now)"),
                Arguments.of(Map.of("--data", "OTHER_DATA"), "data ("),
                Arguments.of(Map.of("--eval-data", "OTHER_DATA"), "eval_data ("),
                Arguments.of(Map.of("--model", "OTHER_MODEL"), "base_model ("),
                Arguments.of(Map.of("--alpha", "32", "--dropout", "0.1"), "dropout (0.0 then, 0.1 now)"));
    }

    @ParameterizedTest(name = "{1}")
    @MethodSource("changedSettings")
    void resumingWithAChangedSettingIsRefusedNamingIt(Map<String, String> change, String expected, @TempDir Path dir)
            throws IOException {
        Map<String, String> resolved = new LinkedHashMap<>();
        change.forEach((k, v) -> resolved.put(k, "OTHER_DATA".equals(v) ? otherData.toString()
                : "OTHER_MODEL".equals(v) ? otherModel.toString() : v));
        Path out = copyOut(dir);
        CliTest.Run r = CliTest.run(resumeArgs(out, resolved));
        assertEquals(2, r.code(), r.err());
        // the data and model summaries come first; then the one line of the error, no stack trace
        List<String> errors = r.err().strip().lines().filter(l -> l.startsWith("error:") || l.startsWith("\tat ")).toList();
        assertEquals(1, errors.size(), r.err());
        String line = errors.getFirst();
        assertEquals(line, r.err().strip().lines().toList().getLast());
        assertTrue(line.startsWith("error: cannot resume from " + out.resolve("checkpoint-1")), line);
        assertTrue(line.contains(expected), line);
        assertTrue(line.contains("start a new --out, or restore"), line);
        if (expected.startsWith("base_model")) {
            // the path is shown as information (a moved model is the same model), the identity decides
            assertTrue(line.contains(" at " + Path.of(CliTest.TINY).toAbsolutePath()) && line.contains(" at "
                    + otherModel.toAbsolutePath()), line);
        }
    }

    @Test
    void resumingWithTheSameTargetsInAnotherOrderOrACopiedModelGoesOn(@TempDir Path dir) throws IOException {
        Path copy = dir.resolve("copied-model");
        Files.createDirectories(copy);
        try (var files = Files.list(Path.of(CliTest.TINY))) {
            for (Path f : files.toList()) Files.copy(f, copy.resolve(f.getFileName()));
        }
        Path out = copyOut(dir);
        CliTest.Run r = CliTest.run(resumeArgs(out, Map.of("--targets", "k_proj,q_proj,k_proj", "--model",
                copy.toString())));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("resumed from " + out.resolve("checkpoint-1") + " at step 1 of 2"), r.err());
    }

    private static Path copyOut(Path dir) throws IOException {
        Path out = dir.resolve("out");
        try (var files = Files.walk(shared.resolve("out"))) {
            for (Path f : files.toList()) {
                Path to = out.resolve(shared.resolve("out").relativize(f).toString());
                if (Files.isDirectory(f)) Files.createDirectories(to);
                else Files.copy(f, to);
            }
        }
        return out;
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
