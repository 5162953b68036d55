package dev.nemoh.jmh;

import dev.nemoh.generate.JsonGrammar;
import dev.nemoh.generate.JsonSchema;
import dev.nemoh.generate.TokenMask;
import dev.nemoh.generate.TokenVocabulary;
import dev.nemoh.tokenizer.Tokenizer;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * The structured-output mask's cost per generated token: {@link TokenMask#apply} (which tokens may come next, and -∞
 * on the others' logits) at three points of a JSON answer, over the tiny model's 320-token vocabulary or a synthetic
 * byte-level BPE vocabulary of 131,072 tokens (the size of Nemotron-H's) built here from a seed. Run with
 * {@code scripts/jmh.sh TokenMaskBenchmarks}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector"})
public class TokenMaskBenchmarks {
    /** tiny: models/nemoh-tiny's tokenizer; 131k: the synthetic vocabulary. */
    @Param({"tiny", "131k"})
    public String vocab;

    /**
     * Where the answer is: inside a string value (every token that is plain text is allowed), at the start of a key
     * (only tokens that begin a declared key), or after a colon in json_object mode (any value may start).
     */
    @Param({"string", "key", "any-value"})
    public String at;

    private TokenMask mask;
    private float[] logits;

    static final String SCHEMA = """
            {"type": "object", "properties": {"name": {"type": "string"}, "count": {"type": "integer"},
             "tags": {"type": "array", "items": {"type": "string"}}}, "required": ["name", "count", "tags"]}""";

    @Setup
    public void setup() throws Exception {
        TokenVocabulary v = vocab.equals("tiny")
                ? TokenVocabulary.of(Tokenizer.load(Path.of("models/nemoh-tiny")), 320)
                : synthetic(131_072, new SplittableRandom(42));
        int stop = v.size() - 1;
        JsonGrammar g = at.equals("any-value") ? JsonGrammar.anyObject()
                : JsonSchema.compile(new com.fasterxml.jackson.databind.ObjectMapper().readValue(SCHEMA, Object.class));
        String prefix = switch (at) {
            case "string" -> "{\"name\":\"Ab";
            case "key" -> "{\"name\":\"x\",\"count\":1,";
            default -> "{\"k\":";
        };
        mask = new TokenMask(g, v, Set.of(stop), -1);
        int[] byteToken = new int[256];
        Arrays.fill(byteToken, -1);
        for (int t = 0; t < v.size(); t++) {
            byte[] b = v.bytes(t);
            if (b != null && b.length == 1 && byteToken[b[0] & 0xFF] < 0) byteToken[b[0] & 0xFF] = t;
        }
        for (byte b : prefix.getBytes(StandardCharsets.UTF_8)) mask.accept(byteToken[b & 0xFF]);
        logits = new float[v.size()];
    }

    @Benchmark
    public float[] maskOneToken() {
        mask.apply(logits, 1000);
        return logits;
    }

    /**
     * A byte-level BPE-like vocabulary: the 256 bytes, then words (mostly lowercase, with and without a leading
     * space, some capitalised), numbers, punctuation runs (quotes, braces and colons among them, as code and JSON
     * merges make them), whitespace runs and words in other scripts (whole UTF-8 characters, and some tokens that
     * end inside one); the last id is the stop token (no bytes).
     */
    public static TokenVocabulary synthetic(int size, SplittableRandom r) {
        Set<String> seen = new LinkedHashSet<>();
        List<byte[]> tokens = new ArrayList<>();
        for (int b = 0; b < 256; b++) tokens.add(new byte[] {(byte) b});
        String letters = "etaoinshrdlcumwfgypbvkjxqz";
        String punct = "\"{}[]:,.;!?()'-_/\\<>=+*&%$#@";
        String[] scripts = {"абвгдежзиклмнопрстуфхцчшщыэюя", "的一是不了人我在有他这为之大来以个中上们", "αβγδεζηθικλμνξοπρστυφχψω"};
        while (tokens.size() < size - 1) {
            StringBuilder t = new StringBuilder();
            int kind = r.nextInt(100);
            if (kind < 70) {
                if (r.nextInt(3) > 0) t.append(' ');
                int n = 2 + r.nextInt(8);
                for (int i = 0; i < n; i++) t.append(letters.charAt(Math.min(letters.length() - 1, (int) Math.abs(r.nextGaussian() * 8))));
                if (r.nextInt(8) == 0) t.setCharAt(t.length() - n, Character.toUpperCase(t.charAt(t.length() - n)));
            } else if (kind < 78) {
                int n = 1 + r.nextInt(3);
                for (int i = 0; i < n; i++) t.append((char) ('0' + r.nextInt(10)));
            } else if (kind < 88) {
                if (r.nextBoolean()) t.append(' ');
                int n = 1 + r.nextInt(3);
                for (int i = 0; i < n; i++) t.append(punct.charAt(r.nextInt(punct.length())));
            } else if (kind < 90) {
                t.append("\n    ", 0, 1 + r.nextInt(5));
            } else {
                String script = scripts[r.nextInt(scripts.length)];
                if (r.nextBoolean()) t.append(' ');
                int n = 1 + r.nextInt(4);
                for (int i = 0; i < n; i++) t.append(script.charAt(r.nextInt(script.length())));
            }
            String s = t.toString();
            if (!seen.add(s)) continue;
            byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
            if (kind >= 90 && r.nextInt(10) == 0 && bytes.length > 2) bytes = Arrays.copyOf(bytes, bytes.length - 1);
            tokens.add(bytes);
        }
        tokens.add(null);
        return new TokenVocabulary(tokens.toArray(byte[][]::new));
    }
}
