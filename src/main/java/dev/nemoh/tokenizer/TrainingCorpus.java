package dev.nemoh.tokenizer;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The sequences of a tokenizer-training corpus, streamed in batches: a text file gives one sequence a line, its line
 * ending ("\n", or "\r\n") kept, as the `tokenizers` library's train_from_files reads files; a {@code .jsonl} file
 * gives the string under one key of each line's JSON object (blank lines are skipped). Input that is not UTF-8, or
 * a JSONL line that is not an object with that string, stops the reading with an error naming file:line.
 */
public final class TrainingCorpus {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** Characters gathered before a batch is handed on (a batch is pre-tokenized in parallel). */
    private static final int BATCH_CHARS = 1 << 22;

    /** Receives each batch of sequences, and the input bytes read so far. */
    public interface Sink {
        void batch(List<String> sequences, long bytesRead);
    }

    private TrainingCorpus() {
    }

    /** Whether {@code file} is read as JSON lines (by its name). */
    public static boolean isJsonLines(Path file) {
        return file.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".jsonl");
    }

    /** Streams every file in order; {@code jsonKey} is the key read from .jsonl files. */
    public static void read(List<Path> files, String jsonKey, Sink sink) {
        long[] bytes = {0};
        List<String> batch = new ArrayList<>();
        int[] chars = {0};
        for (Path file : files) {
            boolean jsonl = isJsonLines(file);
            final long before = bytes[0];
            bytes[0] += readLines(file, (line, lineNo, bytesSoFar) -> {
                String seq = jsonl ? jsonText(file, lineNo, line, jsonKey) : line;
                if (seq != null) {
                    batch.add(seq);
                    chars[0] += seq.length();
                }
                if (chars[0] >= BATCH_CHARS) {
                    sink.batch(List.copyOf(batch), before + bytesSoFar);
                    batch.clear();
                    chars[0] = 0;
                }
            });
        }
        sink.batch(List.copyOf(batch), bytes[0]);
    }

    private interface LineSink {
        void line(String line, long lineNo, long bytesSoFar);
    }

    /** Reads {@code file} line by line, each line with its ending, and returns its size; refuses bytes that are not UTF-8. */
    private static long readLines(Path file, LineSink sink) {
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException(file + (Files.exists(file) ? " is not a file" : " does not exist")
                    + ": pass text or .jsonl files with --input");
        }
        long lineNo = 1, bytes = 0;
        CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer bb = ByteBuffer.allocate(1 << 16);
        CharBuffer cb = CharBuffer.allocate(1 << 16);
        StringBuilder line = new StringBuilder();
        try (InputStream in = Files.newInputStream(file)) {
            boolean eof = false;
            while (true) {
                if (!eof) {
                    int n = in.read(bb.array(), bb.position(), bb.remaining());
                    if (n < 0) eof = true; else {
                        bb.position(bb.position() + n);
                        bytes += n;
                    }
                }
                bb.flip();
                CoderResult cr = decoder.decode(bb, cb, eof);
                bb.compact();
                cb.flip();
                // hand on the complete lines decoded so far, so an error below names the line it is in
                char[] c = cb.array();
                int start = 0, end = cb.limit();
                for (int i = 0; i < end; i++) {
                    if (c[i] != '\n') continue;
                    line.append(c, start, i + 1 - start);
                    sink.line(line.toString(), lineNo++, bytes);
                    line.setLength(0);
                    start = i + 1;
                }
                line.append(c, start, end - start);
                cb.clear();
                if (cr.isError()) {
                    throw new IllegalArgumentException(file + ":" + lineNo
                            + ": not UTF-8 text: save the data as UTF-8");
                }
                if (eof && cr.isUnderflow()) break;
            }
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read " + file + ": " + e.getMessage());
        }
        if (!line.isEmpty()) sink.line(line.toString(), lineNo, bytes);
        return bytes;
    }

    /**
     * The string under {@code key} of one JSONL line (line {@code lineNo} of {@code file}), or null for a blank line;
     * a line that is not a JSON object with a string there is an error naming the file and line.
     */
    public static String jsonText(Path file, long lineNo, String line, String key) {
        if (line.isBlank()) return null;
        JsonNode node;
        try {
            node = JSON.readTree(line);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException(file + ":" + lineNo + ": not valid JSON (" + e.getOriginalMessage()
                    + "): each line must be one JSON object");
        }
        if (node == null || !node.isObject()) {
            throw new IllegalArgumentException(file + ":" + lineNo + ": not a JSON object: each line must be {\""
                    + key + "\": \"...\"}");
        }
        JsonNode text = node.get(key);
        if (text == null || !text.isTextual()) {
            throw new IllegalArgumentException(file + ":" + lineNo + ": no string \"" + key + "\""
                    + (text == null ? "" : " (it is " + text.getNodeType().name().toLowerCase(Locale.ROOT) + ")")
                    + ": name the field holding the text with --json-key");
        }
        return text.textValue();
    }
}
