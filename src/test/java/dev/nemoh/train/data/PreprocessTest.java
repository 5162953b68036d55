package dev.nemoh.train.data;

import dev.nemoh.io.IndexedDataset;
import dev.nemoh.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** JSONL into Megatron's indexed dataset as preprocess_data.py writes it (no sentence splitting). */
class PreprocessTest {
    static final Tokenizer TOK = Tokenizer.load(Path.of("models/nemoh-tiny"));

    static Path jsonl(Path dir, String name, String... lines) throws IOException {
        Path p = dir.resolve(name);
        Files.write(p, List.of(lines));
        return p;
    }

    @Test
    void documentsAreTheTokenizersIdsWithEodInInputOrder(@TempDir Path dir) throws IOException {
        List<String> texts = new ArrayList<>();
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < 700; i++) { // several batches of lines, tokenized on 3 threads
            String t = i % 97 == 5 ? "" : "Document " + i + ": the quick brown fox ✓ " + "jumps ".repeat(i % 7);
            texts.add(t);
            lines.add("{\"id\": " + i + ", \"text\": " + com.fasterxml.jackson.databind.node.TextNode.valueOf(t) + "}");
            if (i % 50 == 0) lines.add("   ");
        }
        Path a = jsonl(dir, "a.jsonl", lines.subList(0, 400).toArray(String[]::new));
        Path b = jsonl(dir, "b.jsonl", lines.subList(400, lines.size()).toArray(String[]::new));
        Path data = Preprocess.dataPath(dir.resolve("out"), "text");
        assertEquals(dir.resolve("out_text_document"), data);
        List<Long> seen = new ArrayList<>();
        Preprocess.Summary s = Preprocess.run(List.of(a, b), TOK, "text", true, data, 3, seen::add);
        int eos = TOK.eosId();
        assertTrue(eos >= 0);
        long empties = texts.stream().filter(String::isEmpty).count();
        assertEquals(texts.size(), s.documents());
        assertEquals(empties, s.emptyDocuments());
        assertEquals(14, s.blankLines());
        assertEquals(Files.size(a) + Files.size(b), s.bytes());
        assertEquals(s.bytes(), (long) seen.getLast());
        long tokens = 0;
        try (IndexedDataset d = IndexedDataset.open(data)) {
            assertEquals(IndexedDataset.TokenType.UINT16, d.type);
            assertEquals(texts.size(), d.documentCount());
            assertEquals(texts.size() - empties, d.sequenceCount());
            for (int i = 0; i < texts.size(); i++) {
                int[] range = d.documentSequences(i);
                int[] ids = TOK.encode(texts.get(i), false);
                if (ids.length == 0) {
                    assertEquals(range[0], range[1], "an empty document has no sequence (and no EOD)");
                    continue;
                }
                assertEquals(range[0] + 1, range[1]);
                int[] expected = java.util.Arrays.copyOf(ids, ids.length + 1);
                expected[ids.length] = eos;
                assertArrayEquals(expected, d.sequence(range[0]), "document " + i);
                tokens += expected.length;
            }
        }
        assertEquals(tokens, s.tokens());
    }

    @Test
    void withoutAppendEodTheTextsTokensOnly(@TempDir Path dir) throws IOException {
        Path in = jsonl(dir, "in.jsonl", "{\"content\": \"Hello there\"}");
        Path data = Preprocess.dataPath(dir.resolve("p"), "content");
        Preprocess.run(List.of(in), TOK, "content", false, data, 1, x -> { });
        try (IndexedDataset d = IndexedDataset.open(data)) {
            assertArrayEquals(TOK.encode("Hello there", false), d.sequence(0));
        }
    }

    static String error(Path dir, String... lines) throws IOException {
        Path in = jsonl(dir, "bad.jsonl", lines);
        Path data = dir.resolve("bad_text_document");
        String m = assertThrows(IllegalArgumentException.class,
                () -> Preprocess.run(List.of(in), TOK, "text", true, data, 2, x -> { })).getMessage();
        try (var files = Files.list(dir)) {
            assertEquals(List.of(in), files.toList(), "a failed run leaves no dataset");
        }
        return m;
    }

    @Test
    void badLinesAreNamedByFileAndLine(@TempDir Path dir) throws IOException {
        String ok = "{\"text\": \"fine\"}";
        assertEquals(dir.resolve("bad.jsonl") + ":3: not valid JSON (Unexpected character ('n' (code 110)): was "
                + "expecting double-quote to start field name): each line must be one JSON object",
                error(dir, ok, ok, "{nope}", "[1]"));
        assertTrue(error(dir, ok, "[1]").startsWith(dir.resolve("bad.jsonl") + ":2: not a JSON object"));
        assertTrue(error(dir, "{\"txt\": \"a\"}").endsWith(":1: no string \"text\": name the field holding the text with --json-key"));
        assertTrue(error(dir, "{\"text\": 5}").contains(":1: no string \"text\" (it is number)"));
        assertTrue(error(dir, "", " ").startsWith("the inputs hold no document (2 blank lines)"));
        Files.write(dir.resolve("bad.jsonl"), new byte[]{'{', '"', 't', '"', ':', '"', (byte) 0xff, '"', '}'});
        String utf8 = assertThrows(IllegalArgumentException.class, () -> Preprocess.run(List.of(dir.resolve("bad.jsonl")),
                TOK, "t", false, dir.resolve("x"), 1, x -> { })).getMessage();
        assertTrue(utf8.endsWith("bad.jsonl:1: not UTF-8 text: save the data as UTF-8"), utf8);
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Preprocess.run(List.of(dir.resolve("none.jsonl")),
                TOK, "text", false, dir.resolve("x"), 1, x -> { })).getMessage().contains("none.jsonl does not exist"));
    }
}
