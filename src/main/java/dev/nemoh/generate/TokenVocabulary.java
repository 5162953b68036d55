package dev.nemoh.generate;

import dev.nemoh.tokenizer.Tokenizer;

import java.util.Arrays;
import java.util.Map;
import java.util.WeakHashMap;

/**
 * The vocabulary as {@link TokenMask} walks it: each token's bytes, decoded once, and the tokens sorted by their
 * bytes with the length of the prefix each shares with the one before (a trie laid flat: a grammar state rejected
 * after a prefix skips every token that shares it). Tokens that are "plain" string text (printable ASCII other than
 * quote and backslash, and whole UTF-8 characters) leave a JSON string's state as it was, so inside a string only
 * the other tokens need walking.
 */
public final class TokenVocabulary {
    private static final Map<Tokenizer, TokenVocabulary> CACHE = new WeakHashMap<>();

    /** Token bytes by id; null for tokens that never appear in JSON (added and special tokens, ids with no token). */
    final byte[][] bytes;
    /** All usable tokens sorted by their bytes, and the common prefix length of each with the previous one. */
    final int[] sorted, sortedLcp;
    /** The same for the tokens that are not plain string text. */
    final int[] special, specialLcp;
    /** Tokens that are plain string text, as a bit set. */
    final long[] plain;
    /** Whether some token is the single byte b. */
    final boolean[] singleByte = new boolean[256];
    final int size;

    /**
     * @param bytes the bytes of each token id (null: never allowed in JSON); the array's length is the logits'
     */
    public TokenVocabulary(byte[][] bytes) {
        this.size = bytes.length;
        this.bytes = bytes.clone();
        int n = 0;
        for (byte[] b : bytes) if (b != null && b.length > 0) n++;
        Integer[] ids = new Integer[n];
        n = 0;
        for (int t = 0; t < size; t++) if (bytes[t] != null && bytes[t].length > 0) ids[n++] = t;
        Arrays.sort(ids, (x, y) -> Arrays.compareUnsigned(bytes[x], bytes[y]));
        plain = new long[(size + 63) >>> 6];
        int specials = 0;
        for (int t : ids) {
            if (bytes[t].length == 1) singleByte[bytes[t][0] & 0xFF] = true;
            if (isPlain(bytes[t])) plain[t >>> 6] |= 1L << t;
            else specials++;
        }
        sorted = new int[n];
        special = new int[specials];
        for (int i = 0, k = 0; i < n; i++) {
            sorted[i] = ids[i];
            if ((plain[ids[i] >>> 6] & (1L << ids[i])) == 0) special[k++] = ids[i];
        }
        sortedLcp = lcps(sorted);
        specialLcp = lcps(special);
    }

    /** The vocabulary of {@code tokenizer}, built once per tokenizer. */
    public static TokenVocabulary of(Tokenizer tokenizer, int logits) {
        synchronized (CACHE) {
            TokenVocabulary v = CACHE.get(tokenizer);
            if (v == null || v.size != logits) {
                byte[][] bytes = new byte[logits][];
                for (int t = 0; t < Math.min(logits, tokenizer.vocabSize()); t++) {
                    bytes[t] = tokenizer.isAdded(t) ? null : tokenizer.tokenBytes(t);
                }
                v = new TokenVocabulary(bytes);
                CACHE.put(tokenizer, v);
            }
            return v;
        }
    }

    public int size() {
        return size;
    }

    /** The bytes of {@code token} (do not modify), or null when it never appears in JSON. */
    public byte[] bytes(int token) {
        return bytes[token];
    }

    private int[] lcps(int[] order) {
        int[] lcp = new int[order.length];
        for (int i = 1; i < order.length; i++) {
            byte[] a = bytes[order[i - 1]], b = bytes[order[i]];
            int m = Arrays.mismatch(a, b);
            lcp[i] = m < 0 ? a.length : m;
        }
        return lcp;
    }

    /** Printable ASCII but quote and backslash, and whole, well-formed UTF-8 characters. */
    static boolean isPlain(byte[] b) {
        int i = 0;
        while (i < b.length) {
            int c = b[i] & 0xFF;
            if (c < 0x80) {
                if (c < 0x20 || c == '"' || c == '\\') return false;
                i++;
                continue;
            }
            int lead = JsonGrammar.utf8Lead(c);
            if (lead < 0) return false;
            int more = lead & 0xFF, lo = (lead >> 8) & 0xFF, hi = lead >> 16;
            if (i + more >= b.length) return false; // the character goes on in the next token
            for (int k = 1; k <= more; k++) {
                int x = b[i + k] & 0xFF;
                if (x < lo || x > hi) return false;
                lo = 0x80;
                hi = 0xBF;
            }
            i += more + 1;
        }
        return true;
    }
}
