package dev.nemoh.model;

import dev.nemoh.config.KvCacheDtype;
import dev.nemoh.config.LayerType;
import dev.nemoh.config.NemotronHConfig;
import dev.nemoh.kernels.CausalAttention;
import dev.nemoh.tensor.Numerics;

import java.util.Arrays;

/**
 * Per-sequence decoding state of a hybrid stack: a fixed-size conv state and SSM state per Mamba layer, and a KV
 * cache per attention layer that grows with the sequence. MLP and MoE layers keep nothing.
 */
public final class HybridCache implements LanguageModel.SequenceState {
    /** State of one layer; {@code null} entries stand for stateless layers. */
    public sealed interface Layer permits MambaState, KvCache {}

    /**
     * Mamba-2 state: the last {@code convKernel} inputs of the conv1d per channel ([convDim, K], oldest first, as
     * transformers keeps it) and the SSM state per head ([heads, headDim, stateSize]).
     */
    public static final class MambaState implements Layer {
        public final float[] conv;
        public final float[] ssm;

        MambaState(int convDim, int convKernel, int heads, int headDim, int stateSize) {
            conv = new float[convDim * convKernel];
            ssm = new float[heads * headDim * stateSize];
        }

        void reset() {
            Arrays.fill(conv, 0f);
            Arrays.fill(ssm, 0f);
        }

        /** Overwrites this state with the given conv and SSM states (copies of another state of the same shape). */
        void copyFrom(float[] fromConv, float[] fromSsm) {
            System.arraycopy(fromConv, 0, conv, 0, conv.length);
            System.arraycopy(fromSsm, 0, ssm, 0, ssm.length);
        }
    }

    /**
     * Keys and values of every past token, stored head-major ([kvHead][token][headDim]) so that attention streams
     * one head's keys contiguously; a token-major layout puts a head's consecutive keys a whole row apart, which
     * made long-context attention much slower. float32 or bf16 (rounded to nearest even) per {@link KvCacheDtype}.
     */
    public static final class KvCache implements Layer {
        private final int heads;
        private final int headDim;
        final int width;
        public final KvCacheDtype dtype;
        /** float32 storage, or null */
        private final float[][] keys, values;
        /** bf16 storage, or null */
        private final short[][] keys16, values16;
        /** The storage above as attention reads it: the same outer arrays, so it sees every append and every growth. */
        public final CausalAttention.KeysValues keysValues;
        /** Tokens the arrays have room for; they grow by doubling, up to {@link #maxLength}. */
        private int capacity;
        private final int maxLength;
        private int length;

        public KvCache(int heads, int headDim, KvCacheDtype dtype) {
            this(heads, headDim, dtype, Integer.MAX_VALUE);
        }

        /** A cache that holds at most {@code maxLength} tokens and never allocates room for more. */
        public KvCache(int heads, int headDim, KvCacheDtype dtype, int maxLength) {
            if (maxLength < 1) throw new IllegalArgumentException("a KV cache must hold at least one token, got " + maxLength);
            this.heads = heads;
            this.headDim = headDim;
            this.width = heads * headDim;
            this.dtype = dtype;
            this.maxLength = maxLength;
            this.capacity = Math.min(16, maxLength);
            boolean wide = dtype == KvCacheDtype.FLOAT32;
            keys = wide ? new float[heads][capacity * headDim] : null;
            values = wide ? new float[heads][capacity * headDim] : null;
            keys16 = wide ? null : new short[heads][capacity * headDim];
            values16 = wide ? null : new short[heads][capacity * headDim];
            keysValues = new CausalAttention.KeysValues(keys, values, keys16, values16);
        }

        public int length() {
            return length;
        }

        /** Appends {@code len} token-major rows of k and v ([len, heads × headDim]). */
        public void append(float[] k, float[] v, int len) {
            if (length + len > capacity) {
                if ((long) length + len > maxLength) {
                    throw new IllegalStateException("the KV cache holds at most " + maxLength + " tokens (its sequence's"
                            + " prompt + max tokens); " + length + " are cached and " + len + " more came");
                }
                capacity = (int) Math.min(maxLength, Math.max(length + len, 2L * capacity));
                for (int h = 0; h < heads; h++) {
                    if (keys != null) {
                        keys[h] = Arrays.copyOf(keys[h], capacity * headDim);
                        values[h] = Arrays.copyOf(values[h], capacity * headDim);
                    } else {
                        keys16[h] = Arrays.copyOf(keys16[h], capacity * headDim);
                        values16[h] = Arrays.copyOf(values16[h], capacity * headDim);
                    }
                }
            }
            for (int t = 0; t < len; t++) {
                for (int h = 0; h < heads; h++) {
                    int from = t * width + h * headDim, to = (length + t) * headDim;
                    if (keys != null) {
                        System.arraycopy(k, from, keys[h], to, headDim);
                        System.arraycopy(v, from, values[h], to, headDim);
                    } else {
                        for (int i = 0; i < headDim; i++) {
                            keys16[h][to + i] = Numerics.floatToBf16(k[from + i]);
                            values16[h][to + i] = Numerics.floatToBf16(v[from + i]);
                        }
                    }
                }
            }
            length += len;
        }

        void reset() {
            length = 0;
        }

        /** Keys and values of some consecutive tokens as the cache stores them: head-major, float32 or bf16. */
        record Slice(float[][] keys, float[][] values, short[][] keys16, short[][] values16, int tokens) {
            long bytes() {
                return keys != null ? 2L * keys.length * keys[0].length * Float.BYTES
                        : 2L * keys16.length * keys16[0].length * Short.BYTES;
            }
        }

        /** A copy of the keys and values of tokens [from, to). */
        Slice slice(int from, int to) {
            if (from < 0 || to > length || from >= to) {
                throw new IllegalArgumentException("tokens [" + from + ", " + to + ") are not in a cache of " + length);
            }
            int a = from * headDim, b = to * headDim;
            float[][] k = null, v = null;
            short[][] k16 = null, v16 = null;
            if (keys != null) {
                k = new float[heads][];
                v = new float[heads][];
                for (int h = 0; h < heads; h++) {
                    k[h] = Arrays.copyOfRange(keys[h], a, b);
                    v[h] = Arrays.copyOfRange(values[h], a, b);
                }
            } else {
                k16 = new short[heads][];
                v16 = new short[heads][];
                for (int h = 0; h < heads; h++) {
                    k16[h] = Arrays.copyOfRange(keys16[h], a, b);
                    v16[h] = Arrays.copyOfRange(values16[h], a, b);
                }
            }
            return new Slice(k, v, k16, v16, to - from);
        }

        /** Appends the tokens of a slice taken from a cache of the same shape and dtype. */
        void append(Slice s) {
            if ((s.keys() != null) != (keys != null) || s.tokens() * headDim != (keys != null ? s.keys()[0].length : s.keys16()[0].length)) {
                throw new IllegalArgumentException("a KV slice of another dtype or shape");
            }
            int len = s.tokens();
            float[] k = new float[len * width], v = new float[len * width];
            for (int t = 0; t < len; t++) {
                for (int h = 0; h < heads; h++) {
                    for (int i = 0; i < headDim; i++) {
                        int at = t * headDim + i, to = t * width + h * headDim + i;
                        // bf16 → float → bf16 round-trips exactly, so append() stores the very same bits
                        k[to] = keys != null ? s.keys()[h][at] : Numerics.bf16ToFloat(s.keys16()[h][at]);
                        v[to] = keys != null ? s.values()[h][at] : Numerics.bf16ToFloat(s.values16()[h][at]);
                    }
                }
            }
            append(k, v, len);
        }
    }

    private final Layer[] layers;
    private int length;
    /** The adapter every token of this sequence runs through, or null for the base model. */
    public final LoraAdapter adapter;

    /** A cache whose KV caches grow as long as the sequence does. */
    public HybridCache(NemotronHConfig c, KvCacheDtype kvDtype) {
        this(c, kvDtype, Integer.MAX_VALUE);
    }

    public HybridCache(NemotronHConfig c, KvCacheDtype kvDtype, int maxLength) {
        this(c, kvDtype, maxLength, null);
    }

    /**
     * A cache for a sequence of at most {@code maxLength} tokens: it never allocates more than
     * {@code c.cacheBytes(maxLength, kvDtype.bytes)}, what the server reserves for the sequence.
     */
    public HybridCache(NemotronHConfig c, KvCacheDtype kvDtype, int maxLength, LoraAdapter adapter) {
        this.adapter = adapter;
        layers = new Layer[c.numLayers()];
        for (int i = 0; i < layers.length; i++) {
            LayerType t = c.layers.get(i);
            if (t == LayerType.MAMBA) {
                layers[i] = new MambaState(c.convDim(), c.convKernel, c.mambaNumHeads, c.mambaHeadDim, c.ssmStateSize);
            } else if (t == LayerType.ATTENTION) {
                layers[i] = new KvCache(c.numKeyValueHeads, c.headDim, kvDtype, maxLength);
            }
        }
    }

    public Layer layer(int i) {
        return layers[i];
    }

    /** Tokens this cache has seen. */
    public int length() {
        return length;
    }

    public void advance(int tokens) {
        length += tokens;
    }

    /**
     * Puts the cache in the state of a {@code tokens}-long context with random contents, for benchmarks: decoding
     * costs the same whatever the cached values are, and prefilling 32K tokens only to time one step would take
     * longer than the benchmark itself.
     */
    public void fillSynthetic(int tokens, long seed) {
        java.util.SplittableRandom r = new java.util.SplittableRandom(seed);
        reset();
        for (Layer l : layers) {
            if (l instanceof MambaState m) {
                for (int i = 0; i < m.conv.length; i++) m.conv[i] = (float) r.nextGaussian();
                for (int i = 0; i < m.ssm.length; i++) m.ssm[i] = (float) r.nextGaussian() * 0.1f;
            } else if (l instanceof KvCache kv) {
                float[] rows = new float[Math.min(tokens, 256) * kv.width];
                for (int i = 0; i < rows.length; i++) rows[i] = (float) r.nextGaussian();
                for (int done = 0; done < tokens; ) {
                    int n = Math.min(tokens - done, rows.length / kv.width);
                    kv.append(rows, rows, n);
                    done += n;
                }
            }
        }
        length = tokens;
    }

    /** Keys and values of some tokens per attention layer and the Mamba states after them (null for other layers). */
    record Snapshot(int tokens, float[][] conv, float[][] ssm, KvCache.Slice[] kv, long bytes) implements LanguageModel.StateSnapshot {}

    /** A copy of the keys and values of tokens [from, to) and of the Mamba states now. */
    Snapshot snapshot(int from, int to) {
        if (to != length) throw new IllegalArgumentException("a snapshot ends where the state is (" + length + "), not at " + to);
        float[][] conv = new float[layers.length][], ssm = new float[layers.length][];
        KvCache.Slice[] kv = new KvCache.Slice[layers.length];
        long size = 0;
        for (int i = 0; i < layers.length; i++) {
            switch (layers[i]) {
                case MambaState m -> {
                    conv[i] = m.conv.clone();
                    ssm[i] = m.ssm.clone();
                    size += (long) (conv[i].length + ssm[i].length) * Float.BYTES;
                }
                case KvCache c -> {
                    kv[i] = c.slice(from, to);
                    size += kv[i].bytes();
                }
                case null -> { }
            }
        }
        return new Snapshot(to - from, conv, ssm, kv, size);
    }

    /** Fills this empty cache from snapshots of consecutive tokens from the start: their keys and values, the last's Mamba states. */
    void restore(java.util.List<LanguageModel.StateSnapshot> prefix) {
        if (length != 0) throw new IllegalArgumentException("snapshots restore into an empty state; this one holds " + length + " tokens");
        int tokens = 0;
        Snapshot last = null;
        for (LanguageModel.StateSnapshot s : prefix) {
            if (!(s instanceof Snapshot snap)) throw new IllegalArgumentException("a " + s.getClass().getSimpleName() + " belongs to another backend");
            for (int i = 0; i < layers.length; i++) {
                if (snap.kv[i] != null) ((KvCache) layers[i]).append(snap.kv[i]);
            }
            tokens += snap.tokens;
            last = snap;
        }
        if (last == null) return;
        for (int i = 0; i < layers.length; i++) {
            if (last.conv[i] != null) ((MambaState) layers[i]).copyFrom(last.conv[i], last.ssm[i]);
        }
        length = tokens;
    }

    public void reset() {
        for (Layer l : layers) {
            if (l instanceof MambaState m) m.reset();
            else if (l instanceof KvCache kv) kv.reset();
        }
        length = 0;
    }
}
