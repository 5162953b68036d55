package dev.nemoh.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import dev.nemoh.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static dev.nemoh.cli.CliTest.assertOneLineError;
import static dev.nemoh.cli.CliTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** nemoh train-tokenizer: inputs, output and one-line errors. */
class TrainTokenizerCommandTest {
    static final Path CORPUS = Path.of("src/test/resources/tokenizer/bpe-training/corpus.txt");

    /**
     * The committed outputs for the corpus, which tools/reference/bpe_trainer_check.py compares with the library:
     * one stopped by --min-frequency, one by --vocab-size.
     */
    @ParameterizedTest
    @CsvSource({"nemoh-2000.json, nemotron, 2000, 2, ''", "nemoh-gpt2-600.json, gpt2, 600, 0, --add-prefix-space"})
    void writesTheCommittedTokenizersForTheCorpus(String expected, String preTokenizer, String vocabSize,
                                                  String minFrequency, String prefix, @TempDir Path tmp) throws Exception {
        List<String> args = new ArrayList<>(List.of("train-tokenizer", "--input", CORPUS.toString(), "--vocab-size",
                vocabSize, "--special-tokens", "<unk>,<s>,</s>", "--min-frequency", minFrequency, "--pre-tokenizer",
                preTokenizer, "--out", tmp.toString()));
        if (!prefix.isEmpty()) args.add(prefix);
        CliTest.Run r = run(args.toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith("wrote " + tmp.resolve("tokenizer.json")), r.out());
        assertTrue(r.err().contains("read 0.0 MB"), r.err());
        String written = Files.readString(tmp.resolve("tokenizer.json"));
        assertEquals(Files.readString(CORPUS.resolveSibling(expected)), written);
        Tokenizer tok = Tokenizer.load(tmp);
        assertEquals("<s>", tok.bosToken());
        String text = Files.readString(CORPUS);
        assertEquals((prefix.isEmpty() ? "" : " ") + text, tok.decode(tok.encode(text, false), false));
    }

    @Test
    void textAndJsonLinesInputsMixedTrainLikeTheWholeText(@TempDir Path tmp) throws Exception {
        String[] lines = Files.readString(CORPUS).split("(?<=\n)");
        int half = lines.length / 2;
        Path head = tmp.resolve("head.txt");
        Files.writeString(head, String.join("", java.util.Arrays.copyOf(lines, half)));
        List<String> records = new ArrayList<>();
        ObjectMapper json = new ObjectMapper();
        for (int i = half; i < lines.length; i++) {
            records.add(json.writeValueAsString(JsonNodeFactory.instance.objectNode().put("id", i).put("body", lines[i])));
            if (i == half + 1) records.add("   "); // blank lines are skipped
        }
        Path tail = tmp.resolve("tail.jsonl");
        Files.writeString(tail, String.join("\n", records) + "\n");
        assertEquals(0, run("train-tokenizer", "--input", CORPUS.toString(), "--vocab-size", "600", "--pre-tokenizer",
                "gpt2", "--out", tmp.resolve("a").toString()).code());
        CliTest.Run r = run("train-tokenizer", "--input", head + "," + tail, "--json-key", "body", "--vocab-size", "600",
                "--pre-tokenizer", "gpt2", "--out", tmp.resolve("b").toString());
        assertEquals(0, r.code(), r.err());
        assertEquals(Files.readString(tmp.resolve("a/tokenizer.json")), Files.readString(tmp.resolve("b/tokenizer.json")));
    }

    @Test
    void badInputsGiveOneLineErrors(@TempDir Path tmp) throws Exception {
        String out = tmp.resolve("out").toString();
        assertOneLineError(run("train-tokenizer", "--input", tmp.resolve("nope.txt").toString(), "--vocab-size", "500",
                "--out", out), "nope.txt does not exist");
        Path bad = tmp.resolve("bad.txt");
        Files.write(bad, "one\ntwo\nthr\u00e9e".getBytes(StandardCharsets.ISO_8859_1));
        assertOneLineError(run("train-tokenizer", "--input", bad.toString(), "--vocab-size", "500", "--out", out),
                bad + ":3: not UTF-8 text: save the data as UTF-8");
        Path jsonl = tmp.resolve("c.jsonl");
        Files.writeString(jsonl, "{\"text\": \"a\"}\n{\"text\": \n");
        assertOneLineError(run("train-tokenizer", "--input", jsonl.toString(), "--vocab-size", "500", "--out", out),
                jsonl + ":2: not valid JSON", "each line must be one JSON object");
        Files.writeString(jsonl, "{\"text\": \"a\"}\n\n[1]\n");
        assertOneLineError(run("train-tokenizer", "--input", jsonl.toString(), "--vocab-size", "500", "--out", out),
                jsonl + ":3: not a JSON object");
        Files.writeString(jsonl, "{\"content\": \"a\"}\n");
        assertOneLineError(run("train-tokenizer", "--input", jsonl.toString(), "--vocab-size", "500", "--out", out),
                jsonl + ":1: no string \"text\": name the field holding the text with --json-key");
        assertOneLineError(run("train-tokenizer", "--input", CORPUS.toString(), "--json-key", "text", "--vocab-size",
                "500", "--out", out), "--json-key applies to .jsonl inputs");
        assertOneLineError(run("train-tokenizer", "--input", CORPUS.toString(), "--vocab-size", "258",
                "--special-tokens", "<s>,</s>", "--out", out), "--vocab-size 258 leaves no room for merges", "258 ids");
        assertOneLineError(run("train-tokenizer", "--input", CORPUS.toString(), "--vocab-size", "500",
                "--pre-tokenizer", "llama", "--out", out), "unknown --pre-tokenizer llama");
        assertOneLineError(run("train-tokenizer", "--input", CORPUS.toString(), "--vocab-size", "500",
                "--min-frequency", "-1", "--out", out), "minimum frequency");
        assertOneLineError(run("train-tokenizer", "--input", CORPUS.toString(), "--vocab-size", "500",
                "--limit-alphabet", "100", "--out", out), "--limit-alphabet");
        Path blank = tmp.resolve("blank.jsonl");
        Files.writeString(blank, "\n  \n");
        assertOneLineError(run("train-tokenizer", "--input", blank.toString(), "--vocab-size", "500", "--out", out),
                "the inputs hold no text (1 file(s), 4 bytes)");
        Path file = tmp.resolve("file");
        Files.writeString(file, "x");
        assertOneLineError(run("train-tokenizer", "--input", CORPUS.toString(), "--vocab-size", "500", "--out",
                file.toString()), "--out " + file + " is a file");
        assertTrue(!Files.exists(tmp.resolve("out")));
    }
}
