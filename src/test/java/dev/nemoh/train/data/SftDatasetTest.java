package dev.nemoh.train.data;

import dev.nemoh.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** JSONL data through the bundled model's tokenizer and Nano-v2 chat template. */
class SftDatasetTest {
    static final Tokenizer TOK = Tokenizer.load(Path.of("models/nemoh-tiny"));
    static final List<Integer> END_OF_TURN = List.of(2, 12); // </s> and <SPECIAL_12>, as generation_config.json

    private static SftDataset.Loaded read(Path dir, int maxLength, String... lines) throws IOException {
        Path f = dir.resolve("data.jsonl");
        Files.writeString(f, String.join("\n", lines) + "\n");
        return SftDataset.read(f, TOK, END_OF_TURN, maxLength);
    }

    /** The texts of the runs of labelled tokens, in order. */
    private static List<String> labelledRuns(SftExample e) {
        List<String> runs = new ArrayList<>();
        for (int t = 0; t < e.length(); ) {
            if (e.labels()[t] == SftExample.IGNORE) {
                t++;
                continue;
            }
            int from = t;
            while (t < e.length() && e.labels()[t] != SftExample.IGNORE) {
                assertEquals(e.ids()[t], e.labels()[t]);
                t++;
            }
            runs.add(TOK.decode(Arrays.copyOfRange(e.ids(), from, t), false));
        }
        return runs;
    }

    @Test
    void conversationsTrainOnAssistantTurnsThroughTheirEnd(@TempDir Path dir) throws IOException {
        SftExample e = read(dir, 512, """
                {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of France?"}, \
                {"role": "assistant", "content": "  Paris. "}, {"role": "user", "content": "And Italy?"}, \
                {"role": "assistant", "content": "Rome."}]}""").examples().getFirst();
        // the template strips history content and writes <think> before the last turn: both stay prompt
        assertEquals(List.of("Paris.\n<SPECIAL_12>", "Rome.\n<SPECIAL_12>"), labelledRuns(e));
        String text = TOK.decode(e.ids(), false);
        assertTrue(text.startsWith("<SPECIAL_10>System\nBe brief.\n<SPECIAL_11>User\nCapital of France?\n"
                + "<SPECIAL_11>Assistant\nParis.\n<SPECIAL_12>\n<SPECIAL_11>User\nAnd Italy?\n"
                + "<SPECIAL_11>Assistant\n<think>\nRome.\n<SPECIAL_12>\n"), text);
        assertEquals(TOK.encode(text, false).length, e.length());
    }

    @Test
    void reasoningInHistoryIsDroppedByTheTemplateAndNotTrained(@TempDir Path dir) throws IOException {
        SftExample e = read(dir, 512, """
                {"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "<think>add</think>4"}, \
                {"role": "user", "content": "3+3?"}, {"role": "assistant", "content": "6"}]}""").examples().getFirst();
        assertEquals(List.of("4\n<SPECIAL_12>", "6\n<SPECIAL_12>"), labelledRuns(e));
    }

    @Test
    void inputOutputTrainsOnTheOutputAndEos(@TempDir Path dir) throws IOException {
        SftExample e = read(dir, 512, "{\"input\": \"Say hi.\", \"output\": \"hi there\"}").examples().getFirst();
        int[] input = TOK.encode("Say hi.", true);
        int[] output = TOK.encode("hi there", false);
        assertEquals(1, input[0]); // BOS from the tokenizer's post-processor
        assertEquals(input.length + output.length + 1, e.length());
        assertArrayEquals(input, Arrays.copyOf(e.ids(), input.length));
        assertEquals(2, e.ids()[e.length() - 1]);
        assertEquals(List.of("hi there</s>"), labelledRuns(e));
        assertEquals(output.length + 1, e.targets());
    }

    @Test
    void longExamplesAreCutAndEmptyOnesDropped(@TempDir Path dir) throws IOException {
        String longInput = "word ".repeat(40);
        SftDataset.Loaded loaded = read(dir, 12,
                "{\"input\": \"a\", \"output\": \"" + "xyz ".repeat(10) + "\"}",
                "",
                "{\"input\": \"" + longInput + "\", \"output\": \"never reached\"}");
        assertEquals(1, loaded.examples().size());
        assertEquals(12, loaded.examples().getFirst().length());
        assertEquals(2, loaded.truncated());
        assertEquals(1, loaded.dropped());
    }

    @Test
    void badLinesAreNamedWithFileAndLine(@TempDir Path dir) {
        String ok = "{\"input\": \"a\", \"output\": \"b\"}";
        assertError(dir, "data.jsonl:2: not valid JSON", ok, "{\"input\": ");
        assertError(dir, "data.jsonl:1: expected a JSON object", "[1, 2]");
        assertError(dir, "data.jsonl:3: has neither \"messages\" nor \"input\" and \"output\" (keys: prompt)",
                ok, ok, "{\"prompt\": \"x\"}");
        assertError(dir, "data.jsonl:1: has both", "{\"messages\": [], \"input\": \"a\", \"output\": \"b\"}");
        assertError(dir, "data.jsonl:1: \"input\" and \"output\" must both be strings", "{\"input\": \"a\"}");
        assertError(dir, "data.jsonl:1: no assistant message", "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}");
        assertError(dir, "data.jsonl:1: message 0 needs a string \"role\"", "{\"messages\": [{\"content\": \"x\"}]}");
        assertError(dir, "data.jsonl:1: message 1 (assistant) needs a string \"content\"",
                "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}, {\"role\": \"assistant\"}]}");
        var e = assertThrows(IllegalArgumentException.class,
                () -> SftDataset.read(dir.resolve("missing.jsonl"), TOK, END_OF_TURN, 64));
        assertTrue(e.getMessage().contains("missing.jsonl does not exist"), e.getMessage());
    }

    private static void assertError(Path dir, String expected, String... lines) {
        var e = assertThrows(IllegalArgumentException.class, () -> read(dir, 64, lines));
        assertTrue(e.getMessage().contains(expected), e.getMessage());
    }
}
