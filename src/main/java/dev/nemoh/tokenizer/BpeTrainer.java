package dev.nemoh.tokenizer;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.TreeSet;
import java.util.stream.IntStream;

/**
 * Byte-level BPE training with the semantics of the `tokenizers` library's {@code BpeTrainer} (its Rust
 * {@code models/bpe/trainer.rs}), so that the same corpus and settings give the same vocabulary and merges.
 *
 * <p>Each fed sequence (a line of a text file with its line ending, or one JSONL record's text) is pre-tokenized by
 * the very pre-tokenizer the written tokenizer.json declares, and its words are counted. Training then builds the
 * vocabulary as the library does: special tokens first, then the alphabet (the 256 byte-level characters, in code
 * point order), then one token per merge. Merges come from a priority queue of pairs ordered by count, ties to the
 * smaller pair of ids; an entry whose count went stale is re-queued with the current count, and each merge is applied
 * to the words recorded with that entry, the pair counts updated from the changes it made. A merge whose token
 * already exists adds no token; training stops when the vocabulary reaches its size, no pair is left, or the best
 * pair occurs fewer than min_frequency times. A pair merged twice is written once, at its later rank, as the library
 * serializes its merges map.
 *
 * <p>Not offered: limit_alphabet (its tie order among equally frequent characters is the library's hash order),
 * continuing_subword_prefix, end_of_word_suffix, max_token_length. Counts are 64-bit here, 32-bit in the library.
 */
public final class BpeTrainer {

    /** How sequences are split into words before BPE. */
    public enum PreTokenization {
        /** GPT-2's: the ByteLevel pre-tokenizer with its built-in regex. */
        GPT2,
        /** Nemotron-H's (Mistral NeMo's "tekken"): a Split on {@link #TEKKEN_REGEX}, then ByteLevel without regex. */
        NEMOTRON;

        /** The split regex of the Nemotron-H / Mistral NeMo ("tekken") byte-level BPE pre-tokenizer. */
        public static final String TEKKEN_REGEX =
                "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"
                + "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*|\\p{N}"
                + "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

        /** tokenizer.json's "pre_tokenizer" for this splitting. */
        ObjectNode json(boolean addPrefixSpace) {
            JsonNodeFactory f = JsonNodeFactory.instance;
            ObjectNode byteLevel = f.objectNode().put("type", "ByteLevel").put("add_prefix_space", addPrefixSpace)
                    .put("trim_offsets", true).put("use_regex", this == GPT2);
            if (this == GPT2) return byteLevel;
            ObjectNode split = f.objectNode().put("type", "Split");
            split.putObject("pattern").put("Regex", TEKKEN_REGEX);
            split.put("behavior", "Isolated").put("invert", false);
            ObjectNode seq = f.objectNode().put("type", "Sequence");
            seq.putArray("pretokenizers").add(split).add(byteLevel);
            return seq;
        }
    }

    /** The training settings; special tokens take the first ids, in order. */
    public record Settings(int vocabSize, long minFrequency, List<String> specialTokens, PreTokenization split,
                           boolean addPrefixSpace) {
        public Settings {
            specialTokens = List.copyOf(new LinkedHashSet<>(specialTokens));
            if (vocabSize < 1) throw new IllegalArgumentException("the vocabulary size must be at least 1, got " + vocabSize);
            if (minFrequency < 0) throw new IllegalArgumentException("the minimum frequency must be 0 or more, got " + minFrequency);
            for (String t : specialTokens) {
                if (t.isEmpty()) throw new IllegalArgumentException("a special token cannot be empty");
            }
        }
    }

    /** A trained vocabulary (token strings by id) and its merges in rank order. */
    public record Model(List<String> vocab, List<String[]> merges) {}

    private final Settings settings;
    private final ObjectNode preTokenizerJson;
    private final PreTokenizer preTokenizer;
    /** word (byte-level characters) -> how often it occurs; a one-element array so counting does not re-box */
    private final Map<String, long[]> wordCounts = new HashMap<>();
    private long words;

    public BpeTrainer(Settings settings) {
        this.settings = settings;
        preTokenizerJson = settings.split().json(settings.addPrefixSpace());
        preTokenizer = PreTokenizer.parse(preTokenizerJson, "the trainer's pre_tokenizer");
    }

    // ------------------------------------------------------------------ counting words

    /** Counts the words of one sequence. */
    public void feed(String sequence) {
        words += count(List.of(sequence), 0, 1, wordCounts);
    }

    /** Counts the words of many sequences, pre-tokenized in parallel; the counts are those of feeding them one by one. */
    public void feed(List<String> sequences) {
        int parts = Math.min(Runtime.getRuntime().availableProcessors(), Math.max(1, sequences.size() / 64));
        if (parts <= 1) {
            words += count(sequences, 0, sequences.size(), wordCounts);
            return;
        }
        List<Map<String, long[]>> partial = IntStream.range(0, parts).parallel().mapToObj(p -> {
            Map<String, long[]> m = new HashMap<>();
            count(sequences, (int) ((long) sequences.size() * p / parts), (int) ((long) sequences.size() * (p + 1) / parts), m);
            return m;
        }).toList();
        for (Map<String, long[]> m : partial) {
            for (Map.Entry<String, long[]> e : m.entrySet()) {
                long c = e.getValue()[0];
                words += c;
                wordCounts.computeIfAbsent(e.getKey(), k -> new long[1])[0] += c;
            }
        }
    }

    private long count(List<String> sequences, int from, int to, Map<String, long[]> into) {
        long n = 0;
        List<Piece> in = new ArrayList<>(1);
        for (int i = from; i < to; i++) {
            String s = sequences.get(i);
            if (s.isEmpty()) continue;
            in.clear();
            in.add(new Piece(s, true));
            for (Piece w : preTokenizer.apply(in)) {
                into.computeIfAbsent(w.text(), k -> new long[1])[0]++;
                n++;
            }
        }
        return n;
    }

    /** Words counted so far. */
    public long words() {
        return words;
    }

    /** Distinct words counted so far. */
    public int distinctWords() {
        return wordCounts.size();
    }

    // ------------------------------------------------------------------ merging

    /** Called after each merge with the vocabulary size reached. */
    public interface Progress {
        void merged(int vocabSize);
    }

    /** A queued pair: its count when queued and the words it was seen in. */
    private static final class Merge {
        final long pair;
        long count;
        final int[] pos;

        Merge(long pair, long count, int[] pos) {
            this.pair = pair;
            this.count = count;
            this.pos = pos;
        }
    }

    private static long pair(int a, int b) {
        return ((long) a << 32) | (b & 0xFFFFFFFFL);
    }

    private static int first(long pair) {
        return (int) (pair >>> 32);
    }

    private static int second(long pair) {
        return (int) pair;
    }

    /** Learns the vocabulary and merges from the words counted so far. */
    public Model train(Progress progress) {
        List<String> idToWord = new ArrayList<>();
        Map<String, Integer> wordToId = new HashMap<>();
        for (String t : settings.specialTokens()) addToken(t, idToWord, wordToId);
        // the alphabet: every character seen and the 256 byte-level ones, in code point order
        TreeSet<Integer> alphabet = new TreeSet<>();
        for (char c : ByteLevel.BYTE_TO_CHAR) alphabet.add((int) c);
        for (String w : wordCounts.keySet()) w.codePoints().forEach(alphabet::add);
        for (int c : alphabet) addToken(Character.toString(c), idToWord, wordToId);

        // the words as symbol ids, with their counts
        int nWords = wordCounts.size();
        int[][] word = new int[nWords][];
        int[] length = new int[nWords];
        long[] counts = new long[nWords];
        int w = 0;
        for (Map.Entry<String, long[]> e : wordCounts.entrySet()) {
            word[w] = e.getKey().codePoints().map(c -> wordToId.get(Character.toString(c))).toArray();
            length[w] = word[w].length;
            counts[w] = e.getValue()[0];
            w++;
        }

        // pair counts, and the words each pair occurs in
        Map<Long, long[]> pairCounts = new HashMap<>();
        Map<Long, IntList> whereToUpdate = new HashMap<>();
        for (int i = 0; i < nWords; i++) {
            for (int k = 0; k + 1 < length[i]; k++) change(pair(word[i][k], word[i][k + 1]), 1, i, counts, pairCounts, whereToUpdate);
        }
        PriorityQueue<Merge> queue = new PriorityQueue<>(Math.max(1, pairCounts.size()), (x, y) ->
                x.count != y.count ? Long.compare(y.count, x.count) : Long.compare(x.pair, y.pair));
        enqueue(whereToUpdate, pairCounts, queue);

        List<Long> mergedPairs = new ArrayList<>();
        while (wordToId.size() < settings.vocabSize() && !queue.isEmpty()) {
            Merge top = queue.poll();
            long current = pairCounts.get(top.pair)[0];
            if (top.count != current) {
                top.count = current;
                queue.add(top);
                continue;
            }
            if (top.count < 1 || settings.minFrequency() > top.count) break;
            int a = first(top.pair), b = second(top.pair);
            int replacement = addToken(idToWord.get(a) + idToWord.get(b), idToWord, wordToId);
            mergedPairs.add(top.pair);
            for (int i : top.pos) length[i] = mergeInWord(word[i], length[i], a, b, replacement, i, counts, pairCounts, whereToUpdate);
            enqueue(whereToUpdate, pairCounts, queue);
            if (progress != null) progress.merged(wordToId.size());
        }

        // a pair merged more than once keeps its last rank, as the library's merges map does
        Map<Long, Integer> lastRank = new HashMap<>();
        for (int r = 0; r < mergedPairs.size(); r++) lastRank.put(mergedPairs.get(r), r);
        List<String[]> merges = new ArrayList<>(mergedPairs.size());
        for (int r = 0; r < mergedPairs.size(); r++) {
            long p = mergedPairs.get(r);
            if (lastRank.get(p) == r) merges.add(new String[] {idToWord.get(first(p)), idToWord.get(second(p))});
        }
        return new Model(List.copyOf(idToWord), merges);
    }

    /** The id of {@code token}, added at the end of the vocabulary when new. */
    private static int addToken(String token, List<String> idToWord, Map<String, Integer> wordToId) {
        Integer id = wordToId.get(token);
        if (id != null) return id;
        idToWord.add(token);
        wordToId.put(token, idToWord.size() - 1);
        return idToWord.size() - 1;
    }

    /**
     * Replaces each (a, b) in the first {@code n} symbols of {@code s}, left to right, by {@code replacement}; each
     * neighbouring pair it breaks loses the word's count and each it forms gains it. Returns the new length.
     */
    private static int mergeInWord(int[] s, int n, int a, int b, int replacement, int w, long[] counts,
                                   Map<Long, long[]> pairCounts, Map<Long, IntList> whereToUpdate) {
        for (int i = 0; i < n; i++) {
            if (s[i] != a || i + 1 >= n || s[i + 1] != b) continue;
            if (i > 0) {
                change(pair(s[i - 1], a), -1, w, counts, pairCounts, whereToUpdate);
                change(pair(s[i - 1], replacement), 1, w, counts, pairCounts, whereToUpdate);
            }
            s[i] = replacement;
            System.arraycopy(s, i + 2, s, i + 1, n - i - 2);
            n--;
            if (i < n - 1) {
                change(pair(b, s[i + 1]), -1, w, counts, pairCounts, whereToUpdate);
                change(pair(replacement, s[i + 1]), 1, w, counts, pairCounts, whereToUpdate);
            }
        }
        return n;
    }

    /** Adds {@code sign} times word {@code w}'s count to {@code pair}; a pair that gains is queued again for w. */
    private static void change(long pair, int sign, int w, long[] counts, Map<Long, long[]> pairCounts,
                               Map<Long, IntList> whereToUpdate) {
        pairCounts.computeIfAbsent(pair, k -> new long[1])[0] += sign * counts[w];
        if (sign > 0) {
            IntList pos = whereToUpdate.computeIfAbsent(pair, k -> new IntList(4));
            if (pos.size() == 0 || pos.last() != w) pos.add(w);
        }
    }

    /** Queues every pair that gained since the last call, with its current count, if positive. */
    private static void enqueue(Map<Long, IntList> whereToUpdate, Map<Long, long[]> pairCounts, PriorityQueue<Merge> queue) {
        for (Map.Entry<Long, IntList> e : whereToUpdate.entrySet()) {
            long count = pairCounts.get(e.getKey())[0];
            if (count > 0) queue.add(new Merge(e.getKey(), count, e.getValue().toArray()));
        }
        whereToUpdate.clear();
    }

    // ------------------------------------------------------------------ writing

    /**
     * tokenizer.json for {@code model}: the BPE model, the special tokens as added tokens, this trainer's
     * pre-tokenizer and the ByteLevel decoder.
     */
    public String toJson(Model model) {
        JsonNodeFactory f = JsonNodeFactory.instance;
        ObjectNode root = f.objectNode().put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        ArrayNode added = root.putArray("added_tokens");
        for (String t : settings.specialTokens()) {
            added.addObject().put("id", model.vocab().indexOf(t)).put("content", t).put("single_word", false)
                    .put("lstrip", false).put("rstrip", false).put("normalized", false).put("special", true);
        }
        root.putNull("normalizer");
        root.set("pre_tokenizer", preTokenizerJson);
        root.putNull("post_processor");
        root.putObject("decoder").put("type", "ByteLevel").put("add_prefix_space", true).put("trim_offsets", true)
                .put("use_regex", true);
        ObjectNode bpe = root.putObject("model").put("type", "BPE");
        bpe.putNull("dropout");
        bpe.putNull("unk_token");
        bpe.putNull("continuing_subword_prefix");
        bpe.putNull("end_of_word_suffix");
        bpe.put("fuse_unk", false).put("byte_fallback", false).put("ignore_merges", false);
        ObjectNode vocab = bpe.putObject("vocab");
        for (int id = 0; id < model.vocab().size(); id++) vocab.put(model.vocab().get(id), id);
        ArrayNode merges = bpe.putArray("merges");
        for (String[] m : model.merges()) merges.addArray().add(m[0]).add(m[1]);
        try {
            return new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsString(root);
        } catch (IOException e) {
            throw new IllegalStateException("cannot write tokenizer.json: " + e.getMessage(), e);
        }
    }

    /** Writes {@code model} as {@code dir}/tokenizer.json (the directory is created when missing); returns the file. */
    public Path save(Model model, Path dir) {
        Path file = dir.resolve("tokenizer.json");
        try {
            Files.createDirectories(dir);
            Files.writeString(file, toJson(model), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot write " + file + ": " + e.getMessage()
                    + "; pass an --out directory you can write to");
        }
        return file;
    }
}
