package dev.nemoh.cli;

import dev.nemoh.config.NemotronHConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static dev.nemoh.cli.CliTest.assertOneLineError;
import static dev.nemoh.cli.CliTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code nemoh preprocess} then {@code nemoh pretrain} on the CPU, end to end, with the tiny model's shape. */
class PretrainCommandTest {
    /** Documents from this repository's own prose (README, docs): real English, a few hundred KB. */
    static Path corpus(Path dir) throws Exception {
        List<String> lines = new ArrayList<>();
        for (Path p : List.of(Path.of("README.md"), Path.of("docs/PERFORMANCE.md"))) {
            for (String para : Files.readString(p).split("\n\\s*\n")) {
                if (para.strip().length() > 40) {
                    lines.add("{\"text\": " + com.fasterxml.jackson.databind.node.TextNode.valueOf(para.strip()) + "}");
                }
            }
        }
        Path in = dir.resolve("corpus.jsonl");
        Files.write(in, lines);
        Run r = run("preprocess", "--input", in.toString(), "--tokenizer", "models/nemoh-tiny", "--output-prefix",
                dir.resolve("corpus").toString(), "--append-eod", "--workers", "2");
        assertEquals(0, r.code(), r.err());
        return dir.resolve("corpus_text_document");
    }

    private record Run(int code, String out, String err) {
    }

    private static Run run(String... args) {
        CliTest.Run r = CliTest.run(args);
        return new Run(r.code(), r.out(), r.err());
    }

    static String[] pretrain(Path data, Path out, String... extra) {
        List<String> a = new ArrayList<>(List.of("pretrain", "--config", "models/nemoh-tiny/config.json", "--tokenizer",
                "models/nemoh-tiny", "--data", data.toString(), "--split", "95,5", "--seq-len", "64", "--micro-batch", "2",
                "--global-batch", "4", "--steps", "12", "--lr", "3e-3", "--warmup", "2", "--min-lr", "3e-4",
                "--eval-samples", "4", "--save-every", "6", "--out", out.toString()));
        for (int i = 0; i < extra.length; i += 2) { // an option given again replaces the default above
            int at = a.indexOf(extra[i]);
            if (at >= 0) a.set(at + 1, extra[i + 1]);
            else a.addAll(List.of(extra[i], extra[i + 1]));
        }
        return a.toArray(String[]::new);
    }

    static List<String> curve(Path out) throws Exception {
        return Files.readAllLines(out.resolve("loss.csv")).stream().map(r -> r.substring(0, r.lastIndexOf(','))).toList();
    }

    @Test
    void pretrainsResumesAndWritesAModelThatGenerates(@TempDir Path tmp) throws Exception {
        Path data = corpus(tmp);
        Path out = tmp.resolve("run");
        Run r = run(pretrain(data, out));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().matches("(?s).*validation loss [0-9.]+, perplexity [0-9.]+ \\(4 samples of 64 tokens\\).*"), r.out());
        List<String> full = curve(out);
        assertEquals(13, full.size());
        double first = Double.parseDouble(full.get(1).split(",")[1]), last = Double.parseDouble(full.get(12).split(",")[1]);
        System.out.printf("pretrain tiny shape, 12 steps: loss %.3f -> %.3f%n", first, last);
        assertTrue(first > 5.0 && last < first - 0.5, "the loss falls from about ln(320): " + first + " -> " + last);
        // the checkpoint's model equals the config asked for, and the HF export loads and generates
        assertEquals(NemotronHConfig.load(Path.of("models/nemoh-tiny")).toJsonString(),
                NemotronHConfig.load(out.resolve("model")).toJsonString());
        assertTrue(Files.isRegularFile(out.resolve("model/tokenizer.json")));
        Run g = run("generate", "--model", out.resolve("model").toString(), "--prompt", "The", "--max-tokens", "8");
        assertEquals(0, g.code(), g.err());

        // killed after step 6: the rerun resumes from checkpoint-6 and repeats the curve
        Files.delete(out.resolve("loss.csv"));
        org.junit.jupiter.api.Assertions.assertDoesNotThrow(() -> deleteTree(out.resolve("model")));
        Run resumed = run(pretrain(data, out, "--resume", out.resolve("checkpoint-6").toString()));
        assertEquals(0, resumed.code(), resumed.err());
        assertTrue(resumed.err().contains("resumed from " + out.resolve("checkpoint-6") + " at step 6 of 12"), resumed.err());
        assertEquals(full, curve(out));
    }

    static void deleteTree(Path p) throws java.io.IOException {
        try (var walk = Files.walk(p)) {
            for (Path q : walk.sorted(java.util.Comparator.reverseOrder()).toList()) Files.delete(q);
        }
    }

    @Test
    void badDataAndOptionsGetOneLine(@TempDir Path tmp) throws Exception {
        Path data = corpus(tmp);
        assertOneLineError(CliTest.run(pretrain(tmp.resolve("missing"), tmp.resolve("a"))), "no " + tmp.resolve("missing.idx"));
        assertOneLineError(CliTest.run(pretrain(data, tmp.resolve("b"), "--seq-len", "100000")), "fewer than one sample of --seq-len 100000");
        assertOneLineError(CliTest.run(pretrain(data, tmp.resolve("c"), "--split", "100,0")), "leaves no validation documents");
        assertOneLineError(CliTest.run(pretrain(data, tmp.resolve("d"), "--global-batch", "3")), "must be a positive multiple of --micro-batch 2");
        assertOneLineError(CliTest.run("pretrain", "--preset", "nemotron-h-8b", "--layers", "1", "--data", "1", data.toString(),
                "2", "--steps", "1", "--out", tmp.resolve("e").toString()), "give every path a weight");
        Path small = tmp.resolve("small-vocab.json");
        Files.writeString(small, Files.readString(Path.of("models/nemoh-tiny/config.json")).replace("\"vocab_size\": 320", "\"vocab_size\": 64"));
        assertOneLineError(CliTest.run("pretrain", "--config", small.toString(), "--data", data.toString(), "--split", "95,5",
                "--seq-len", "64", "--steps", "2", "--out", tmp.resolve("f").toString()), "(validation split) holds token id",
                "but the model's vocab_size is 64");
        Path empty = tmp.resolve("empty.jsonl");
        Files.writeString(empty, "\n");
        assertOneLineError(CliTest.run("preprocess", "--input", empty.toString(), "--tokenizer", "models/nemoh-tiny",
                "--output-prefix", tmp.resolve("x").toString()), "the inputs hold no document");
    }
}
