package dev.nemoh.tokenizer;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.nemoh.FuzzOracle;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * Fuzzes the tokenizer: arbitrary {@code tokenizer.json} texts ({@link #tokenizerJson}, through
 * {@link Tokenizer#fromJson}, which {@link Tokenizer#load} shares after reading the files), and arbitrary text and ids
 * through real tokenizers ({@link #encodeDecode}).
 *
 * <p>Oracles: a tokenizer.json loads or fails with {@link TokenizerException}; one that loads encodes and decodes a
 * fixed text without throwing. With the Nemotron-structured byte-level tokenizers (the bundled {@code nemoh-tiny} one
 * and {@code src/test/resources/tokenizer/nemotron-bpe}), any text encodes, decodes back to itself, and decodes the same
 * through the stream decoder; any id sequence decodes without throwing. Never a hang (20 s per input), an
 * OutOfMemoryError, or an allocation past the bound.
 */
class TokenizerFuzzTest {
    static final FuzzOracle LOAD = FuzzOracle.of("tokenizer.json", FuzzOracle.types(TokenizerException.class), 1024);
    /** Encoding and decoding a valid text has no error to report. */
    static final FuzzOracle TEXT = FuzzOracle.of("tokenizer encode/decode", t -> false, 1024);

    static final String PROBE = "Hello, World! 123 <s> ünïcödé\n\t  中文 🙂 <think>x</think>";

    @FuzzTest(maxDuration = "5m")
    void tokenizerJson(byte[] json) {
        String text = new String(json, StandardCharsets.UTF_8);
        LOAD.check(() -> {
            Tokenizer t = Tokenizer.fromJson(text, null, "fuzz/tokenizer.json");
            // a tokenizer that loads works: encoding and decoding raise nothing
            int[] ids = t.encode(PROBE, true);
            t.decode(ids, false);
            t.decode(ids, true);
            var stream = t.streamDecoder(false);
            for (int id : ids) stream.push(id);
            stream.flush();
            t.decode(new int[] {-1, 0, 1, t.vocabSize() - 1, t.vocabSize(), Integer.MAX_VALUE}, false);
        });
    }

    private static Tokenizer tiny;
    private static Tokenizer nemotron;

    private static synchronized Tokenizer[] tokenizers() {
        if (tiny == null) {
            tiny = Tokenizer.load(Path.of("models/nemoh-tiny"));
            nemotron = Tokenizer.load(Path.of("src/test/resources/tokenizer/nemotron-bpe"));
        }
        return new Tokenizer[] {tiny, nemotron};
    }

    /**
     * The input as UTF-8 text (a first byte of 0xFF repeats the rest 256 times, to find work that grows faster than
     * the text), and the same bytes read as ids.
     */
    @FuzzTest(maxDuration = "5m")
    void encodeDecode(byte[] data) {
        String text = data.length > 0 && data[0] == (byte) 0xFF
                ? new String(data, 1, data.length - 1, StandardCharsets.UTF_8).repeat(256)
                : new String(data, StandardCharsets.UTF_8);
        int[] raw = new int[data.length / 2];
        for (int i = 0; i < raw.length; i++) raw[i] = (data[2 * i] & 0xff) << 8 | (data[2 * i + 1] & 0xff);
        for (Tokenizer t : tokenizers()) {
            TEXT.check(() -> {
                int[] ids = t.encode(text, false);
                String back = t.decode(ids, false);
                if (!back.equals(text)) {
                    throw new AssertionError(t + ": decode(encode(text)) differs from the text\n  text: "
                            + escape(text) + "\n  back: " + escape(back) + "\n  ids: " + Arrays.toString(ids));
                }
                var stream = t.streamDecoder(false);
                StringBuilder streamed = new StringBuilder();
                for (int id : ids) streamed.append(stream.push(id));
                streamed.append(stream.flush());
                if (!streamed.toString().equals(back)) {
                    throw new AssertionError(t + ": the stream decoder gives " + escape(streamed.toString())
                            + " where decode gives " + escape(back));
                }
                t.encode(text, true);
                t.decode(raw, false);
                t.decode(raw, true);
                var s2 = t.streamDecoder(true);
                for (int id : raw) s2.push(id);
                s2.flush();
            });
        }
    }

    static String escape(String s) {
        StringBuilder sb = new StringBuilder();
        s.codePoints().limit(400).forEach(c -> {
            if (c < 0x20 || c > 0x7e) sb.append(String.format("\\u{%x}", c));
            else sb.appendCodePoint(c);
        });
        return sb.toString();
    }
}
