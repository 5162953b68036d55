package dev.nemoh.tokenizer;

import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

class StreamDecoderTest {
    @Test
    void holdsBackIncompleteCharacters() {
        Tokenizer tok = Tokenizer.load(Path.of("models/nemoh-tiny"));
        String text = "Family: 👨‍👩‍👧‍👦, flag 🏳️‍🌈, 東京, é";
        int[] ids = tok.encode(text, false);
        Tokenizer.StreamDecoder sd = tok.streamDecoder(false);
        List<String> parts = new ArrayList<>();
        int held = 0;
        for (int id : ids) {
            String p = sd.push(id);
            assertFalse(p.contains("\uFFFD"), "emitted a broken character: " + p);
            if (p.isEmpty()) held++;
            parts.add(p);
        }
        parts.add(sd.flush());
        assertEquals(text, String.join("", parts));
        assertFalse(held == 0, "the byte-level tiny vocabulary splits these characters, so some pushes must wait");
    }

    @Test
    void flushEmitsAnIncompleteTail() {
        Tokenizer tok = Tokenizer.load(Path.of("models/nemoh-tiny"));
        int[] ids = tok.encode("€", false); // 3 bytes, 3 byte tokens in the tiny vocabulary
        Tokenizer.StreamDecoder sd = tok.streamDecoder(false);
        assertEquals("", sd.push(ids[0]));
        assertEquals("\uFFFD", sd.flush());
        assertEquals(tok.decode(new int[]{ids[0]}, false), "\uFFFD");
    }

    @Test
    void skipsSpecialTokensOnRequest() {
        Tokenizer tok = Tokenizer.load(Path.of("models/nemoh-tiny"));
        int[] ids = tok.encode("Hi<SPECIAL_12>", true);
        StringBuilder sb = new StringBuilder();
        Tokenizer.StreamDecoder sd = tok.streamDecoder(true);
        for (int id : ids) sb.append(sd.push(id));
        sb.append(sd.flush());
        assertEquals("Hi", sb.toString());
    }

    /** Found by TokenizerFuzzTest (tokenizerJson/stream-decoder-never-releases): every push decoded a growing window. */
    @Test
    void fuzzStreamDecoderReleasesTextThatNeverStopsEndingInAReplacementCharacter() {
        Tokenizer tok = Tokenizer.load(Path.of("models/nemoh-tiny"));
        int continuation = tok.id(String.valueOf(ByteLevel.BYTE_TO_CHAR[0x80])); // a lone UTF-8 continuation byte
        int[] ids = new int[5000];
        java.util.Arrays.fill(ids, continuation);
        Tokenizer.StreamDecoder sd = tok.streamDecoder(false);
        StringBuilder out = new StringBuilder();
        int released = 0;
        for (int id : ids) {
            String p = sd.push(id);
            if (!p.isEmpty()) released++;
            out.append(p);
        }
        out.append(sd.flush());
        assertFalse(released == 0, "the text was held back until the flush: each push decoded every id so far");
        assertEquals(tok.decode(ids, false), out.toString());
    }

    /** Found by TokenizerFuzzTest (encodeDecode/replacement-characters-in-text): a forced release split a character. */
    @Test
    void fuzzStreamDecoderReleasingHeldTextKeepsCharactersWhole() {
        Tokenizer tok = Tokenizer.load(Path.of("models/nemoh-tiny"));
        String text = "résumé Ån" + "\uFFFD".repeat(40) + "gström 東京";
        int[] ids = tok.encode(text, false);
        Tokenizer.StreamDecoder sd = tok.streamDecoder(false);
        StringBuilder out = new StringBuilder();
        for (int id : ids) out.append(sd.push(id));
        out.append(sd.flush());
        assertEquals(text, out.toString());
    }

    /**
     * Found by TokenizerFuzzTest (encodeDecode/character-split-at-forced-release): the second version of the release
     * kept 3 tokens back, but a character's first bytes can sit in earlier tokens; the stream lost text.
     */
    @Test
    void fuzzStreamDecoderReleasesOnlyAtCharacterBoundaries() throws java.io.IOException {
        // and encodeDecode/character-start-decodes-like-a-replacement-character: with the cut at "the head's text is a
        // prefix of the window's", a character's first bytes at the cut and the real U+FFFD before them both decode
        // to U+FFFD, so the third version still split "试"
        streamsBack("src/test/resources/tokenizer/nemotron-bpe", "character-split-at-forced-release");
        streamsBack("models/nemoh-tiny", "character-start-decodes-like-a-replacement-character");
    }

    private static void streamsBack(String tokenizer, String input) throws java.io.IOException {
        Tokenizer tok = Tokenizer.load(Path.of(tokenizer));
        String text = new String(java.nio.file.Files.readAllBytes(Path.of("src/test/resources/dev/nemoh/tokenizer/"
                + "TokenizerFuzzTestInputs/encodeDecode/" + input)), java.nio.charset.StandardCharsets.UTF_8);
        int[] ids = tok.encode(text, false);
        Tokenizer.StreamDecoder sd = tok.streamDecoder(false);
        StringBuilder out = new StringBuilder();
        for (int id : ids) out.append(sd.push(id));
        out.append(sd.flush());
        assertEquals(text, out.toString());
    }
}
