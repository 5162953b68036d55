package dev.nemoh.tokenizer;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Bad input gives one clear message that names the file and the fix. */
class TokenizerErrorsTest {
    static final String MINIMAL = """
            {"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]},
             "pre_tokenizer": %s, "decoder": null, "added_tokens": []}""";

    @Test
    void missingPath(@TempDir Path dir) {
        var e = assertThrows(TokenizerException.class, () -> Tokenizer.load(dir.resolve("nope")));
        assertTrue(e.getMessage().contains("nope") && e.getMessage().contains("does not exist"), e.getMessage());
    }

    @Test
    void directoryWithoutTokenizerJson(@TempDir Path dir) throws IOException {
        var e = assertThrows(TokenizerException.class, () -> Tokenizer.load(dir));
        assertTrue(e.getMessage().startsWith("no tokenizer.json in " + dir), e.getMessage());
        Files.writeString(dir.resolve("tokenizer.model"), "x");
        e = assertThrows(TokenizerException.class, () -> Tokenizer.load(dir));
        assertTrue(e.getMessage().contains("SentencePiece"), e.getMessage());
    }

    @Test
    void badJson(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("tokenizer.json"), "{\"model\": {\"type\": \"BPE\",,}");
        var e = assertThrows(TokenizerException.class, () -> Tokenizer.load(dir));
        assertTrue(e.getMessage().contains(dir.resolve("tokenizer.json").toString()), e.getMessage());
        assertTrue(e.getMessage().contains("not valid JSON (line 1"), e.getMessage());
    }

    @Test
    void badTokenizerConfigJson(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("tokenizer.json"), MINIMAL.formatted("null"));
        Files.writeString(dir.resolve("tokenizer_config.json"), "[1, 2");
        var e = assertThrows(TokenizerException.class, () -> Tokenizer.load(dir));
        assertTrue(e.getMessage().contains("tokenizer_config.json is not valid JSON"), e.getMessage());
    }

    @Test
    void unknownModelType(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("tokenizer.json"), "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}");
        var e = assertThrows(TokenizerException.class, () -> Tokenizer.load(dir));
        assertTrue(e.getMessage().contains("model type \"WordPiece\" is not supported"), e.getMessage());
        assertTrue(e.getMessage().startsWith(dir.resolve("tokenizer.json").toString()), e.getMessage());
    }

    @Test
    void notATokenizerJson(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("tokenizer.json"), "{\"vocab_size\": 3}");
        var e = assertThrows(TokenizerException.class, () -> Tokenizer.load(dir));
        assertTrue(e.getMessage().contains("has no \"model\" section"), e.getMessage());
    }

    @Test
    void unsupportedComponentNamesTypeAndFile() {
        var e = assertThrows(TokenizerException.class, () -> Tokenizer.fromJson(
                MINIMAL.formatted("{\"type\": \"UnicodeScripts\"}"), null, "some/tokenizer.json"));
        assertTrue(e.getMessage().startsWith("some/tokenizer.json pre_tokenizer: pre_tokenizer type \"UnicodeScripts\""
                + " is not supported"), e.getMessage());
    }

    @Test
    void mergeOutsideVocabulary() {
        String json = "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [\"a b\"]}}";
        var e = assertThrows(TokenizerException.class, () -> Tokenizer.fromJson(json, null, "t.json"));
        assertTrue(e.getMessage().contains("makes \"ab\", which is not in the vocabulary"), e.getMessage());
    }

    @Test
    void minimalTokenizerWorks() {
        Tokenizer t = Tokenizer.fromJson(MINIMAL.formatted("null"), null, "t.json");
        assertEquals(3, t.vocabSize());
        assertEquals(2, t.encode("ab", false)[0]);
        assertEquals("ab a b", t.decode(new int[]{2, 0, 1}, false)); // no decoder: tokens joined by spaces
        assertEquals(-1, t.bosId());
    }

    @Test
    void regexTranslation() {
        assertEquals("[0-9a-fA-F]+\\x0B(?s:.)", OnigRegex.translate("\\h+\\v(?m:.)", "t"));
        assertEquals("[\\p{Alpha}\\d]", OnigRegex.translate("[[:alpha:]\\d]", "t"));
        assertEquals("ab", OnigRegex.translate("a(?#comment)b", "t"));
        var e = assertThrows(TokenizerException.class, () -> OnigRegex.compile("(a", "file.json Split"));
        assertTrue(e.getMessage().startsWith("file.json Split: the regex \"(a\" cannot be used"), e.getMessage());
    }

    // ---- found by TokenizerFuzzTest (inputs in src/test/resources/dev/nemoh/tokenizer/TokenizerFuzzTestInputs)

    @Test
    void fuzzHugeVocabularyIdIsRefusedBeforeAnArrayOfThatSizeIsAllocated() {
        // an id of 2^31 - 1 sized the id-to-token array by it (OutOfMemoryError); a larger one wrapped around
        for (String id : List.of("2147483647", "77777777777777777777777", "-1", "1.5", "\"3\"")) {
            var e = assertThrows(TokenizerException.class, () -> Tokenizer.fromJson(
                    "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": " + id + "}, \"merges\": []}}",
                    null, "t.json"));
            assertTrue(e.getMessage().contains("is not a token id"), e.getMessage());
        }
        var e = assertThrows(TokenizerException.class, () -> Tokenizer.fromJson("{\"model\": {\"type\": \"BPE\","
                + " \"vocab\": {\"a\": 0}, \"merges\": []}, \"added_tokens\": [{\"id\": 4294967296, \"content\": \"x\"}]}",
                null, "t.json"));
        assertTrue(e.getMessage().contains("added_tokens"), e.getMessage());
    }

    @Test
    void fuzzBertProcessingWithoutATokenPairIsATokenizerException() {
        // "cls": "[CLS]" instead of ["[CLS]", 101] was a NullPointerException
        var e = assertThrows(TokenizerException.class, () -> Tokenizer.fromJson("{\"model\": {\"type\": \"BPE\","
                + " \"vocab\": {\"a\": 0}, \"merges\": []}, \"post_processor\": {\"type\": \"BertProcessing\","
                + " \"cls\": \"[CLS]\", \"sep\": [\"[SEP]\", 0]}}", null, "t.json"));
        assertTrue(e.getMessage().contains("cls must be a [token, id] pair"), e.getMessage());
    }

    @Test
    void fuzzPostProcessorIdsCountInTheVocabularySize() {
        // a BOS id past the vocabulary passed ServedModel's check and indexed past the model's embeddings
        Tokenizer t = Tokenizer.fromJson("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},"
                + " \"post_processor\": {\"type\": \"BertProcessing\", \"cls\": [\"[CLS]\", 500], \"sep\": [\"[SEP]\", 0]}}",
                null, "t.json");
        assertEquals(501, t.vocabSize());
    }
}
