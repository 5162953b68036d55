package dev.nemoh.train.data;

import dev.nemoh.io.IndexedDataset;
import dev.nemoh.tokenizer.Tokenizer;
import dev.nemoh.tokenizer.TrainingCorpus;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.LongConsumer;

/**
 * Pretraining text into Megatron-LM's indexed dataset, as its {@code tools/preprocess_data.py} does without sentence
 * splitting: each JSONL line is a document, its {@code jsonKey} string tokenized without special tokens, with the
 * end-of-document token (the tokenizer's EOS) appended when {@code appendEod} and the document has tokens. The files
 * are read as streams and tokenized in batches of lines on {@code workers} threads, written in input order.
 */
public final class Preprocess {
    private static final int BATCH = 256;

    /** What was written: documents (empty ones included), tokens, blank lines skipped, input bytes read. */
    public record Summary(long documents, long emptyDocuments, long tokens, long blankLines, long bytes) {
    }

    private Preprocess() {
    }

    /** The data path Megatron's preprocess_data.py writes for a prefix and JSON key: {@code PREFIX_KEY_document}. */
    public static Path dataPath(Path outputPrefix, String jsonKey) {
        return outputPrefix.resolveSibling(outputPrefix.getFileName() + "_" + jsonKey + "_document");
    }

    /**
     * Tokenizes every line of {@code inputs} into the dataset at {@code dataPath}; {@code progress} hears the input
     * bytes read so far. A line that is not a JSON object with a string at {@code jsonKey} stops the run, naming its
     * file and line, and leaves no dataset behind.
     */
    public static Summary run(List<Path> inputs, Tokenizer tokenizer, String jsonKey, boolean appendEod, Path dataPath,
                              int workers, LongConsumer progress) {
        if (inputs.isEmpty()) throw new IllegalArgumentException("no --input: give one or more JSONL files");
        if (workers < 1) throw new IllegalArgumentException("--workers must be at least 1, got " + workers);
        for (Path p : inputs) {
            if (!Files.isRegularFile(p)) throw new IllegalArgumentException("input " + p + " does not exist: pass JSONL files");
        }
        int eod = tokenizer.eosId();
        if (appendEod && eod < 0) {
            throw new IllegalArgumentException("--append-eod: the tokenizer names no EOS token (eos_token in "
                    + "tokenizer_config.json) to end documents with");
        }
        int vocab = tokenizer.vocabSize();
        long documents = 0, empty = 0, blank = 0, bytes = 0;
        ExecutorService pool = Executors.newFixedThreadPool(workers, r -> {
            Thread t = new Thread(r, "preprocess");
            t.setDaemon(true);
            return t;
        });
        try (IndexedDataset.Writer out = new IndexedDataset.Writer(dataPath, IndexedDataset.TokenType.forVocabulary(vocab), vocab)) {
            for (Path file : inputs) {
                try (BufferedReader in = new BufferedReader(new InputStreamReader(Files.newInputStream(file),
                        StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                                .onUnmappableCharacter(CodingErrorAction.REPORT)), 1 << 20)) {
                    int lineNo = 0;
                    List<String> lines = new ArrayList<>(BATCH);
                    List<Integer> numbers = new ArrayList<>(BATCH);
                    while (true) {
                        String line;
                        try {
                            line = in.readLine();
                        } catch (CharacterCodingException e) {
                            throw new IllegalArgumentException(file + ":" + (lineNo + 1) + ": not UTF-8 text: save the data as UTF-8");
                        }
                        if (line != null) {
                            lineNo++;
                            bytes += line.getBytes(StandardCharsets.UTF_8).length + 1;
                            if (line.isBlank()) {
                                blank++;
                            } else {
                                lines.add(line);
                                numbers.add(lineNo);
                            }
                        }
                        if (lines.size() == BATCH || (line == null && !lines.isEmpty())) {
                            for (int[] ids : tokenize(pool, workers, file, lines, numbers, tokenizer, jsonKey, appendEod, eod)) {
                                out.addDocument(ids);
                                documents++;
                                if (ids.length == 0) empty++;
                            }
                            lines.clear();
                            numbers.clear();
                            progress.accept(bytes);
                        }
                        if (line == null) break;
                    }
                } catch (IOException e) {
                    throw new UncheckedIOException("cannot read " + file + ": " + e.getMessage(), e);
                }
            }
            if (documents == 0) {
                throw new IllegalArgumentException("the inputs hold no document (" + blank + " blank lines): nothing to write");
            }
            out.finish();
            return new Summary(documents, empty, out.tokens(), blank, bytes);
        } finally {
            pool.shutdownNow();
        }
    }

    /** The lines' documents in order, tokenized in one slice per thread; the first bad line in order is the error. */
    private static List<int[]> tokenize(ExecutorService pool, int workers, Path file, List<String> lines,
                                        List<Integer> numbers, Tokenizer tokenizer, String jsonKey, boolean appendEod,
                                        int eod) {
        int n = lines.size(), slice = (n + workers - 1) / workers;
        List<Future<List<int[]>>> parts = new ArrayList<>();
        for (int from = 0; from < n; from += slice) {
            int lo = from, hi = Math.min(n, from + slice);
            parts.add(pool.submit(() -> {
                List<int[]> docs = new ArrayList<>(hi - lo);
                for (int i = lo; i < hi; i++) {
                    docs.add(document(file, numbers.get(i), lines.get(i), tokenizer, jsonKey, appendEod, eod));
                }
                return docs;
            }));
        }
        List<int[]> out = new ArrayList<>(n);
        try {
            for (Future<List<int[]>> f : parts) out.addAll(f.get());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException r) throw r;
            throw new IllegalStateException(e.getCause());
        }
        return out;
    }

    /** One line's token ids, the end-of-document token appended when asked for and there are tokens. */
    static int[] document(Path file, int lineNo, String line, Tokenizer tokenizer, String jsonKey, boolean appendEod, int eod) {
        int[] ids = tokenizer.encode(TrainingCorpus.jsonText(file, lineNo, line, jsonKey), false);
        if (!appendEod || ids.length == 0) return ids;
        int[] withEod = java.util.Arrays.copyOf(ids, ids.length + 1);
        withEod[ids.length] = eod;
        return withEod;
    }
}
