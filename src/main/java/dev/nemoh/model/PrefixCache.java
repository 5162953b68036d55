package dev.nemoh.model;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Prefix caching for the hybrid stack: while a prompt is prefilled, the sequence's state is snapshot at every
 * multiple of {@code interval} tokens, so that a later prompt that starts with the same tokens resumes from the
 * longest such prefix instead of prefilling it again (the usual case: a shared system prompt, or the history of a chat
 * that grows by a turn).
 *
 * <p>One entry per interval of a prompt: its tokens and a {@link LanguageModel.StateSnapshot} of the KV rows of those
 * tokens in each attention layer and every Mamba layer's conv and SSM states at its end, kept where the backend keeps
 * states (the Java heap on the CPU, device memory on cuda, copied device to device). Its key is a SHA-256 chained
 * over the model's {@link LanguageModel#stateIdentity() state identity} (device, weight format, KV dtype, time-step
 * clamp), the
 * adapter's identity and every token up to the entry's end, so models, formats and adapters never share an entry. A
 * prompt resumes from the longest run of entries present from its start: their KV rows in order, the Mamba states of
 * the last. Entries live in an LRU bounded in bytes (what their snapshots hold, freed on eviction); an entry larger than the bound is not
 * stored, and the entries a prompt resumes from are refreshed shallowest last, so that a chain loses its deepest
 * entries first and stays usable.
 *
 * <p>Exactness: snapshots are only of states a prefill computed, and the prefill runs in pieces of at least two
 * tokens, so every Mamba time step is clamped as in one prefill of the whole prompt (a single token takes the decode
 * step, which transformers does not clamp: see {@link TimeStepClamp}); a boundary is therefore used only when at least
 * two prompt tokens follow it. Decode states are never stored.
 */
public final class PrefixCache {
    /** The adapter identity of the base model without an adapter. */
    public static final String NO_ADAPTER = "none";
    /** Tokens between snapshots unless set: a multiple of the scan chunk of every Nemotron-H checkpoint. */
    public static final int DEFAULT_INTERVAL = 512;

    /** The logits of the prompt's last token, and how many of its tokens came from the cache. */
    public record Prefill(float[] logits, int cachedTokens) {}

    private record Entry(int[] tokens, LanguageModel.StateSnapshot state, long bytes) {}

    private final LanguageModel model;
    private final long maxBytes;
    private final int interval;
    /** Least recently used first. */
    private final LinkedHashMap<String, Entry> entries = new LinkedHashMap<>(16, 0.75f, true);
    private long bytes;
    private long queries;
    private long hitTokens;

    /**
     * @param maxBytes the bound on what the entries hold
     * @param interval tokens between snapshots (at least 2)
     */
    public PrefixCache(LanguageModel model, long maxBytes, int interval) {
        if (maxBytes < 1) throw new IllegalArgumentException("the prefix cache needs a positive size, got " + maxBytes + " bytes");
        checkInterval(interval);
        if (model.stateIdentity() == null) {
            throw new IllegalArgumentException("--prefix-cache-mib: this model's backend cannot snapshot its states;"
                    + " drop --prefix-cache-mib");
        }
        this.model = model;
        this.maxBytes = maxBytes;
        this.interval = interval;
    }

    /** Refuses an interval that would leave one-token pieces (decode steps) in a prefill. */
    public static void checkInterval(int interval) {
        if (interval < 2) throw new IllegalArgumentException("--prefix-cache-interval must be at least 2 tokens, got " + interval);
    }

    public int interval() {
        return interval;
    }

    public long maxBytes() {
        return maxBytes;
    }

    /**
     * Feeds {@code prompt} into the empty {@code state}, resuming from the longest cached prefix of it for this
     * adapter and storing a snapshot at each boundary it computes. The logits equal those of
     * {@link LanguageModel#forwardLast} on the whole prompt, up to float rounding of the pieces it runs in.
     */
    public Prefill prefill(int[] prompt, LanguageModel.SequenceState state, String adapter) {
        if (state.length() != 0) {
            throw new IllegalArgumentException("a prefix-cached prefill starts from an empty state; this one holds "
                    + state.length() + " tokens");
        }
        if (prompt.length == 0) throw new IllegalArgumentException("no input tokens");
        String[] keys = keys(prompt, adapter);
        Set<String> chain = new HashSet<>(Arrays.asList(keys));
        int hit = resume(prompt, keys, state);
        int pos = hit * interval;
        boolean storing = true;
        for (int k = hit; k < keys.length; k++) {
            int end = (k + 1) * interval;
            model.forwardLast(Arrays.copyOfRange(prompt, pos, end), state);
            if (storing) storing = store(keys[k], prompt, pos, end, state, chain);
            pos = end;
        }
        float[] logits = model.forwardLast(Arrays.copyOfRange(prompt, pos, prompt.length), state);
        refresh(keys);
        return new Prefill(logits, hit * interval);
    }

    /**
     * The key of each boundary the prompt may resume from, {@code interval} tokens apart and at least two tokens
     * before its end.
     */
    private String[] keys(int[] prompt, String adapter) {
        int boundaries = Math.max(0, (prompt.length - 2) / interval);
        String[] keys = new String[boundaries];
        MessageDigest sha = sha256();
        sha.update((model.stateIdentity() + "\u0000" + adapter).getBytes(StandardCharsets.UTF_8));
        byte[] chained = sha.digest();
        ByteBuffer tokens = ByteBuffer.allocate(interval * Integer.BYTES);
        for (int k = 0; k < boundaries; k++) {
            tokens.clear();
            for (int t = k * interval; t < (k + 1) * interval; t++) tokens.putInt(prompt[t]);
            sha.update(chained);
            sha.update(tokens.array());
            chained = sha.digest();
            keys[k] = HexFormat.of().formatHex(chained);
        }
        return keys;
    }

    /** Restores the longest run of cached entries from the prompt's start into {@code state}; returns its length. */
    private synchronized int resume(int[] prompt, String[] keys, LanguageModel.SequenceState state) {
        queries++;
        int hit = 0;
        while (hit < keys.length) {
            Entry e = entries.get(keys[hit]);
            // the tokens are compared too, so that even a hash collision cannot pass another prompt's state off
            if (e == null || !Arrays.equals(e.tokens, 0, interval, prompt, hit * interval, (hit + 1) * interval)) break;
            hit++;
        }
        if (hit > 0) {
            List<LanguageModel.StateSnapshot> prefix = new ArrayList<>();
            for (int k = 0; k < hit; k++) prefix.add(entries.get(keys[k]).state);
            model.restore(state, prefix);
        }
        hitTokens += (long) hit * interval;
        return hit;
    }

    /**
     * Adds the entry of tokens [from, to) of a state that has just prefilled them, evicting the least recently used
     * ones outside this prompt's own chain to make room. Returns false when it could not be stored, after which
     * deeper entries of the chain would be unreachable.
     */
    private synchronized boolean store(String key, int[] prompt, int from, int to, LanguageModel.SequenceState state,
                                       Set<String> chain) {
        if (entries.containsKey(key)) return true;
        LanguageModel.StateSnapshot snapshot = model.snapshot(state, from, to);
        if (snapshot == null) return false; // no device memory for it now
        Entry e = new Entry(Arrays.copyOfRange(prompt, from, to), snapshot, snapshot.bytes() + (long) (to - from) * Integer.BYTES);
        if (e.bytes > maxBytes) {
            snapshot.release();
            return false;
        }
        for (Iterator<Map.Entry<String, Entry>> it = entries.entrySet().iterator(); bytes + e.bytes > maxBytes && it.hasNext(); ) {
            Map.Entry<String, Entry> old = it.next();
            if (chain.contains(old.getKey())) continue;
            bytes -= old.getValue().bytes;
            old.getValue().state.release();
            it.remove();
        }
        if (bytes + e.bytes > maxBytes) {
            snapshot.release();
            return false;
        }
        entries.put(key, e);
        bytes += e.bytes;
        return true;
    }

    /** Marks the prompt's entries used, its shallowest last: eviction then takes a chain's deepest entries first. */
    private synchronized void refresh(String[] keys) {
        for (int k = keys.length - 1; k >= 0; k--) entries.get(keys[k]);
    }

    /** Prefills that consulted the cache. */
    public synchronized long queries() {
        return queries;
    }

    /** Prompt tokens served from the cache instead of being prefilled. */
    public synchronized long hitTokens() {
        return hitTokens;
    }

    /** Bytes the entries hold now (never above {@link #maxBytes()}). */
    public synchronized long bytes() {
        return bytes;
    }

    public synchronized int entries() {
        return entries.size();
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("this JDK has no SHA-256", e);
        }
    }
}
