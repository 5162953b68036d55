package dev.nemoh.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The BPE model of tokenizer.json: a vocabulary and ranked merges. A word starts as one symbol per character
 * (or per byte with byte_fallback, or unk) and the lowest-ranked adjacent pair is merged until none is left, with a
 * priority queue over a linked list of symbols (the `tokenizers` library's Word::merge_all), so a word of n
 * characters costs O(n log n). Results are cached per word.
 */
final class Bpe {
    private static final int CACHE_CAPACITY = 10_000;
    private static final int CACHE_MAX_WORD = 256;

    final Map<String, Integer> vocab;
    final String[] vocabR;
    private final PairMap merges;
    private final int unkId;
    private final boolean fuseUnk;
    private final boolean byteFallback;
    private final boolean ignoreMerges;
    private final String prefix;
    private final String suffix;
    private final int[] byteIds = new int[256];
    private final ConcurrentHashMap<String, int[]> cache = new ConcurrentHashMap<>();

    Bpe(JsonNode model, String where) {
        String w = where + " (model)";
        String type = model.has("type") ? model.get("type").asText() : "BPE";
        if (!type.equals("BPE")) {
            throw new TokenizerException(where + ": model type \"" + type + "\" is not supported; nemoh reads byte-level"
                    + " and SentencePiece-style BPE tokenizers (model type BPE), as Nemotron-H and Nano v2 use");
        }
        if (model.has("dropout") && !model.get("dropout").isNull() && model.get("dropout").asDouble() != 0) {
            throw new TokenizerException(w + ": BPE dropout " + model.get("dropout") + " is for training; set it to null");
        }
        JsonNode v = Json.require(model, "vocab", w);
        vocab = new HashMap<>(v.size() * 2);
        int max = -1;
        for (Iterator<Map.Entry<String, JsonNode>> it = v.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            int id = Json.id(e.getValue(), w + ": the id of token " + OnigRegex.quote(e.getKey()));
            vocab.put(e.getKey(), id);
            max = Math.max(max, id);
        }
        vocabR = new String[max + 1];
        for (Map.Entry<String, Integer> e : vocab.entrySet()) vocabR[e.getValue()] = e.getKey();

        unkId = tokenIdOrMinus(Json.str(model, "unk_token"), w, "unk_token");
        fuseUnk = Json.bool(model, "fuse_unk", false);
        byteFallback = Json.bool(model, "byte_fallback", false);
        ignoreMerges = Json.bool(model, "ignore_merges", false);
        prefix = Json.str(model, "continuing_subword_prefix");
        suffix = Json.str(model, "end_of_word_suffix");
        for (int b = 0; b < 256; b++) {
            Integer id = vocab.get(String.format("<0x%02X>", b));
            byteIds[b] = id == null ? -1 : id;
        }

        JsonNode m = model.get("merges");
        int count = m == null || m.isNull() ? 0 : m.size();
        merges = new PairMap(count);
        int prefixLen = prefix == null ? 0 : prefix.length();
        for (int rank = 0; rank < count; rank++) {
            JsonNode merge = m.get(rank);
            String a;
            String b;
            if (merge.isArray() && merge.size() == 2) {
                a = merge.get(0).asText();
                b = merge.get(1).asText();
            } else if (merge.isTextual()) {
                String s = merge.asText();
                int sp = s.indexOf(' ');
                if (sp < 0 || s.indexOf(' ', sp + 1) >= 0) {
                    throw new TokenizerException(w + ": merge #" + rank + " \"" + s + "\" is not two tokens separated"
                            + " by one space");
                }
                a = s.substring(0, sp);
                b = s.substring(sp + 1);
            } else {
                throw new TokenizerException(w + ": merge #" + rank + " must be \"a b\" or [\"a\", \"b\"], found "
                        + Json.shorten(merge));
            }
            Integer ia = vocab.get(a);
            Integer ib = vocab.get(b);
            if (ia == null || ib == null) {
                throw new TokenizerException(w + ": merge #" + rank + " uses \"" + (ia == null ? a : b)
                        + "\", which is not in the vocabulary");
            }
            String merged = a + (prefixLen > 0 && b.length() >= prefixLen ? b.substring(prefixLen) : b);
            Integer in = vocab.get(merged);
            if (in == null) {
                throw new TokenizerException(w + ": merge #" + rank + " makes \"" + merged + "\", which is not in the"
                        + " vocabulary");
            }
            merges.put(ia, ib, rank, in);
        }
    }

    private int tokenIdOrMinus(String token, String where, String field) {
        if (token == null) return -1;
        Integer id = vocab.get(token);
        if (id == null) {
            throw new TokenizerException(where + ": " + field + " \"" + token + "\" is not in the vocabulary");
        }
        return id;
    }

    String idToToken(int id) {
        return id >= 0 && id < vocabR.length ? vocabR[id] : null;
    }

    /** Appends the ids of {@code word} to {@code out}. */
    void tokenize(String word, IntList out) {
        if (word.isEmpty()) return;
        if (ignoreMerges) {
            Integer id = vocab.get(word);
            if (id != null) {
                out.add(id);
                return;
            }
        }
        int[] hit = cache.get(word);
        if (hit != null) {
            out.addAll(hit);
            return;
        }
        int[] ids = mergeWord(word);
        if (word.length() < CACHE_MAX_WORD) {
            if (cache.size() >= CACHE_CAPACITY) cache.clear();
            cache.put(word, ids);
        }
        out.addAll(ids);
    }

    private int[] mergeWord(String w) {
        int n = w.length();
        Word word = new Word(n);
        int unk = -1; // pending unk id
        for (int i = 0; i < n; ) {
            int cp = w.codePointAt(i);
            int next = i + Character.charCount(cp);
            boolean first = i == 0;
            boolean last = next >= n;
            String s = w.substring(i, next);
            if (!first && prefix != null) s = prefix + s;
            if (last && suffix != null) s = s + suffix;
            i = next;
            Integer id = vocab.get(s);
            if (id != null) {
                if (unk >= 0) {
                    word.add(unk);
                    unk = -1;
                }
                word.add(id);
                continue;
            }
            if (byteFallback) {
                byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
                boolean all = true;
                for (byte b : bytes) {
                    if (byteIds[b & 0xFF] < 0) {
                        all = false;
                        break;
                    }
                }
                if (all) {
                    for (byte b : bytes) word.add(byteIds[b & 0xFF]);
                    continue;
                }
            }
            if (unkId >= 0) {
                if (unk >= 0 && !fuseUnk) word.add(unk);
                unk = unkId;
            }
        }
        if (unk >= 0) word.add(unk);
        word.mergeAll(merges);
        return word.ids();
    }

    /** Symbols in a doubly linked list over arrays; removed symbols are marked dead. */
    private static final class Word {
        int[] c;
        int[] prev;
        int[] next;
        boolean[] dead;
        int n;

        Word(int cap) {
            cap = Math.max(cap, 1);
            c = new int[cap];
            prev = new int[cap];
            next = new int[cap];
            dead = new boolean[cap];
        }

        void add(int id) {
            if (n == c.length) {
                int cap = n * 2;
                c = Arrays.copyOf(c, cap);
                prev = Arrays.copyOf(prev, cap);
                next = Arrays.copyOf(next, cap);
                dead = Arrays.copyOf(dead, cap);
            }
            c[n] = id;
            prev[n] = n - 1;
            next[n] = -1;
            if (n > 0) next[n - 1] = n;
            n++;
        }

        void mergeAll(PairMap merges) {
            if (n < 2) return;
            Heap queue = new Heap(n);
            for (int i = 0; i + 1 < n; i++) {
                long m = merges.get(c[i], c[i + 1]);
                if (m >= 0) queue.push((int) (m >>> 32), i, (int) m);
            }
            while (queue.size > 0) {
                int pos = queue.topPos();
                int newId = queue.topNewId();
                queue.pop();
                if (dead[pos]) continue;
                int right = next[pos];
                if (right < 0) continue;
                long cur = merges.get(c[pos], c[right]);
                if (cur < 0 || (int) cur != newId) continue;
                // merge right into pos
                c[pos] = newId;
                dead[right] = true;
                int rn = next[right];
                next[pos] = rn;
                if (rn >= 0) prev[rn] = pos;
                int p = prev[pos];
                if (p >= 0) {
                    long m = merges.get(c[p], c[pos]);
                    if (m >= 0) queue.push((int) (m >>> 32), p, (int) m);
                }
                if (rn >= 0) {
                    long m = merges.get(c[pos], c[rn]);
                    if (m >= 0) queue.push((int) (m >>> 32), pos, (int) m);
                }
            }
        }

        int[] ids() {
            int k = 0;
            for (int i = 0; i < n; i++) if (!dead[i]) k++;
            int[] out = new int[k];
            k = 0;
            for (int i = 0; i < n; i++) if (!dead[i]) out[k++] = c[i];
            return out;
        }
    }

    /** A min-heap of merges ordered by (rank, position). */
    private static final class Heap {
        long[] key; // rank << 32 | pos
        int[] newId;
        int size;

        Heap(int cap) {
            key = new long[Math.max(cap, 4)];
            newId = new int[key.length];
        }

        int topRank() {
            return (int) (key[0] >>> 32);
        }

        int topPos() {
            return (int) key[0];
        }

        int topNewId() {
            return newId[0];
        }

        void push(int rank, int pos, int id) {
            if (size == key.length) {
                key = Arrays.copyOf(key, size * 2);
                newId = Arrays.copyOf(newId, size * 2);
            }
            long k = ((long) rank << 32) | (pos & 0xFFFFFFFFL);
            int i = size++;
            while (i > 0) {
                int parent = (i - 1) >>> 1;
                if (key[parent] <= k) break;
                key[i] = key[parent];
                newId[i] = newId[parent];
                i = parent;
            }
            key[i] = k;
            newId[i] = id;
        }

        void pop() {
            int last = --size;
            if (last == 0) return;
            long k = key[last];
            int id = newId[last];
            int i = 0;
            while (true) {
                int l = 2 * i + 1;
                if (l >= last) break;
                int r = l + 1;
                int m = r < last && key[r] < key[l] ? r : l;
                if (key[m] >= k) break;
                key[i] = key[m];
                newId[i] = newId[m];
                i = m;
            }
            key[i] = k;
            newId[i] = id;
        }
    }

    /** Open-addressing map from a pair of ids to (rank << 32 | new id); later duplicates win, as in `tokenizers`. */
    static final class PairMap {
        private final long[] keys;
        private final long[] vals;
        private final int mask;

        PairMap(int expected) {
            int cap = Integer.highestOneBit(Math.max(4, expected * 2 - 1)) << 1;
            keys = new long[cap];
            vals = new long[cap];
            Arrays.fill(keys, -1L);
            mask = cap - 1;
        }

        private static int hash(long k) {
            k ^= k >>> 33;
            k *= 0xff51afd7ed558ccdL;
            k ^= k >>> 33;
            return (int) k;
        }

        void put(int a, int b, int rank, int newId) {
            long k = ((long) a << 32) | (b & 0xFFFFFFFFL);
            int i = hash(k) & mask;
            while (keys[i] != -1L && keys[i] != k) i = (i + 1) & mask;
            keys[i] = k;
            vals[i] = ((long) rank << 32) | (newId & 0xFFFFFFFFL);
        }

        /** (rank << 32 | new id), or -1 when the pair does not merge. */
        long get(int a, int b) {
            long k = ((long) a << 32) | (b & 0xFFFFFFFFL);
            int i = hash(k) & mask;
            while (true) {
                long kk = keys[i];
                if (kk == k) return vals[i];
                if (kk == -1L) return -1L;
                i = (i + 1) & mask;
            }
        }
    }
}
