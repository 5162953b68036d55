package dev.nemoh.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.nemoh.tokenizer.BpeTrainer.PreTokenization;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** BPE training: hand-worked merges, the `tokenizers` library's own output, round trips and determinism. */
class BpeTrainerTest {
    static final Path DIR = Path.of("src/test/resources/tokenizer/bpe-training");
    static final Path CORPUS = DIR.resolve("corpus.txt");

    static BpeTrainer trainer(int vocabSize, long minFrequency, List<String> specials, PreTokenization split, boolean prefix) {
        return new BpeTrainer(new BpeTrainer.Settings(vocabSize, minFrequency, specials, split, prefix));
    }

    /** The Hugging Face course's example: hug 10, pug 5, pun 12, bun 4, hugs 5 (one word a sequence, no Ġ). */
    static BpeTrainer hugs(int vocabSize, long minFrequency, List<String> specials) {
        BpeTrainer t = trainer(vocabSize, minFrequency, specials, PreTokenization.GPT2, false);
        String[] words = {"hug", "pug", "pun", "bun", "hugs"};
        int[] counts = {10, 5, 12, 4, 5};
        for (int i = 0; i < words.length; i++) for (int k = 0; k < counts[i]; k++) t.feed(words[i]);
        return t;
    }

    static List<String> merges(BpeTrainer.Model m) {
        return m.merges().stream().map(p -> p[0] + " " + p[1]).toList();
    }

    @Test
    void handWorkedMerges() {
        // pairs: ug 20, hu 15, pu 17, un 16, bu 4, gs 5. Merging ug leaves h-ug 15, p-u 12, p-ug 5, ug-s 5; then un
        // (16) leaves p-un 12, b-un 4; then hug (15), pun (12); p-ug and hug-s tie at 5 and the smaller pair of ids
        // goes first: p is a byte character, hug a merge; last bun (4).
        BpeTrainer.Model m = hugs(100_000, 0, List.of()).train(null);
        assertEquals(List.of("u g", "u n", "h ug", "p un", "p ug", "hug s", "b un"), merges(m));
        assertEquals(256 + 7, m.vocab().size());
        assertEquals(List.of("ug", "un", "hug", "pun", "pug", "hugs", "bun"), m.vocab().subList(256, 263));
        // the alphabet: the 256 byte-level characters in code point order
        assertEquals("!", m.vocab().get(0));
        assertEquals("Ā", m.vocab().get(188)); // byte 0 is the first byte moved to U+0100
        assertEquals(256, new HashSet<>(m.vocab().subList(0, 256)).size());
    }

    @Test
    void minFrequencyAndVocabularySizeStopTheMerges() {
        assertEquals(List.of("u g", "u n", "h ug", "p un", "p ug", "hug s"), merges(hugs(100_000, 5, List.of()).train(null)));
        assertEquals(List.of("u g", "u n", "h ug"), merges(hugs(100_000, 13, List.of()).train(null)));
        BpeTrainer.Model m = hugs(259, 0, List.of()).train(null);
        assertEquals(List.of("u g", "u n", "h ug"), merges(m));
        assertEquals(259, m.vocab().size());
    }

    @Test
    void specialTokensComeFirstAndAMergeMayReuseOne() {
        // "ug" is special (given twice, kept once): merging u g adds no token, so 2 + 256 + 3 tokens take four merges
        BpeTrainer t = hugs(261, 0, List.of("ug", "<s>", "ug"));
        BpeTrainer.Model m = t.train(null);
        assertEquals(List.of("u g", "u n", "h ug", "p un"), merges(m));
        assertEquals(261, m.vocab().size());
        assertEquals(List.of("ug", "<s>", "!"), m.vocab().subList(0, 3));
        Tokenizer tok = Tokenizer.fromJson(t.toJson(m), null, "trained");
        assertEquals(0, tok.id("ug"));
        assertTrue(tok.isSpecial(1));
        // special tokens are cut out of the text before BPE: "hug" becomes h + the special "ug"
        assertEquals(List.of(1, tok.id("h"), 0), java.util.Arrays.stream(tok.encode("<s>hug", false)).boxed().toList());
    }

    /**
     * The `tokenizers` library's own training on the corpus (tokenizers 0.23.2 through its Node.js binding,
     * tools/reference/bpe_trainer_node.js): its default trainer merges until no pair is left and has no initial
     * alphabet, so nemoh, trained past that point, must have the same merges, and the same vocabulary once the byte
     * characters the corpus lacks are left out.
     */
    @ParameterizedTest
    @CsvSource({"NEMOTRON, false, hf-nemotron.json", "GPT2, true, hf-gpt2-prefix-space.json"})
    void sameMergesAsTheTokenizersLibrary(PreTokenization split, boolean prefix, String reference) throws IOException {
        BpeTrainer t = trainer(1_000_000, 0, List.of(), split, prefix);
        for (String line : lines(CORPUS)) t.feed(line);
        BpeTrainer.Model m = t.train(null);
        JsonNode hf = new ObjectMapper().readTree(DIR.resolve(reference).toFile());
        assertTrue(hf.path("model").path("merges").size() > 1000, "reference has " + hf.path("model").path("merges").size() + " merges");
        assertSameAsLibrary(t, m, hf);
    }

    /**
     * {@code m}'s merges equal those of {@code hf}, a tokenizer.json of the library's default trainer (no initial
     * alphabet); its vocabulary too once the byte characters absent from {@code hf} are left out; same pre-tokenizer.
     */
    static void assertSameAsLibrary(BpeTrainer t, BpeTrainer.Model m, JsonNode hf) throws IOException {
        List<String> hfMerges = new ArrayList<>();
        hf.path("model").path("merges").forEach(p -> hfMerges.add(p.isArray() ? p.get(0).asText() + " " + p.get(1).asText() : p.asText()));
        assertEquals(hfMerges, merges(m));
        String[] hfVocab = new String[hf.path("model").path("vocab").size()];
        hf.path("model").path("vocab").properties().forEach(e -> hfVocab[e.getValue().asInt()] = e.getKey());
        Set<String> inHf = Set.of(hfVocab);
        assertEquals(List.of(hfVocab), m.vocab().stream().filter(inHf::contains).toList());
        assertEquals(hfVocab.length + (256 - (int) m.vocab().subList(0, 256).stream().filter(inHf::contains).count()),
                m.vocab().size());
        assertEquals(new ObjectMapper().readTree(t.toJson(m)).get("pre_tokenizer"), hf.get("pre_tokenizer"));
    }

    /** The corpus's sequences: its lines, each with its "\n". */
    static List<String> lines(Path file) throws IOException {
        String text = Files.readString(file, StandardCharsets.UTF_8);
        List<String> out = new ArrayList<>();
        int start = 0;
        for (int i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', start)) {
            out.add(text.substring(start, i + 1));
            start = i + 1;
        }
        if (start < text.length()) out.add(text.substring(start));
        return out;
    }

    @ParameterizedTest
    @CsvSource({"NEMOTRON, false", "GPT2, false", "GPT2, true"})
    void theTrainedTokenizerLoadsAndRoundTrips(PreTokenization split, boolean prefix) throws IOException {
        BpeTrainer t = trainer(700, 0, List.of("<unk>", "<s>", "</s>"), split, prefix);
        List<String> lines = lines(CORPUS);
        t.feed(lines);
        BpeTrainer.Model m = t.train(null);
        Tokenizer tok = Tokenizer.fromJson(t.toJson(m), null, "trained");
        assertEquals(700, tok.vocabSize());
        String corpus = String.join("", lines);
        int[] ids = tok.encode(corpus, false);
        // the merges compress: fewer than a token for 2.5 characters (README gives the measured ratio)
                assertTrue(ids.length < corpus.length() / 2.5, ids.length + " tokens");
        Random r = new Random(17);
        List<String> texts = new ArrayList<>(List.of(corpus, "", " ", "\n\n", "Café naïve 北京 😀 \u0000\t\r\n",
                "<s>keeper</s> <unk>"));
        for (int i = 0; i < 200; i++) {
            StringBuilder sb = new StringBuilder();
            int n = r.nextInt(40);
            for (int k = 0; k < n; k++) {
                int kind = r.nextInt(4);
                int cp = kind == 0 ? 32 + r.nextInt(95) : kind == 1 ? r.nextInt(0x800) : kind == 2 ? 0x4E00 + r.nextInt(0x5000)
                        : 0x1F300 + r.nextInt(0x300);
                if (Character.isSurrogate((char) cp)) cp = 'x';
                sb.appendCodePoint(cp);
            }
            texts.add(sb.toString());
        }
        for (String s : texts) {
            String expected = prefix && !s.isEmpty() && !s.startsWith(" ") && !s.startsWith("<s>") ? " " + s : s;
            if (prefix && s.startsWith("<s>")) continue; // the prefix space goes after the special token
            assertEquals(expected, tok.decode(tok.encode(s, false), false), s);
        }
        assertEquals(1, tok.encode("<s>", false)[0]);
    }

    @Test
    void trainingIsDeterministic() throws IOException {
        List<String> lines = lines(CORPUS);
        BpeTrainer one = trainer(900, 2, List.of("<s>"), PreTokenization.NEMOTRON, false);
        for (String line : lines) one.feed(line);
        List<String> many = new ArrayList<>();
        for (int i = 0; i < 3; i++) many.addAll(lines);
        BpeTrainer batch = trainer(900, 6, List.of("<s>"), PreTokenization.NEMOTRON, false);
        batch.feed(many); // three copies in parallel: every count tripled
        String a = one.toJson(one.train(null));
        assertEquals(a, one.toJson(one.train(null)));
        assertEquals(a, batch.toJson(batch.train(null)));
        assertEquals(3 * one.words(), batch.words());
    }
}
