package dev.nemoh.model;

import dev.nemoh.config.BlockWeights;
import dev.nemoh.config.KvCacheDtype;
import dev.nemoh.config.NemotronHConfig;
import dev.nemoh.config.WeightSchema;
import dev.nemoh.io.Checkpoint;
import dev.nemoh.io.GgufFile;
import dev.nemoh.io.NemotronHGguf;
import dev.nemoh.tensor.Tensor;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * NemotronHForCausalLM: token embeddings, a stack of hybrid blocks, a final RMSNorm ({@code norm_f}) and the LM head
 * (or the embedding matrix, when tied). Weights stay in the checkpoint's memory mapping.
 */
public final class NemotronHModel implements LanguageModel {
    /**
     * Receives the hidden state after the embeddings (index 0), after each block i (index i + 1) and after norm_f
     * (index layers + 1).
     */
    public interface HiddenStates {
        void accept(int index, float[] hidden, int len);
    }

    public final NemotronHConfig config;
    private final Checkpoint checkpoint;
    public final Tensor embeddings;
    public final List<Block> blocks;
    public final RmsNorm normF;
    public final Linear lmHead;
    private final TimeStepClamp clamp;
    private final WeightFormat format;

    private NemotronHModel(NemotronHConfig config, Checkpoint checkpoint, Tensor embeddings, List<Block> blocks,
                           RmsNorm normF, Linear lmHead, TimeStepClamp clamp, WeightFormat format) {
        this.config = config;
        this.clamp = clamp;
        this.format = format;
        this.checkpoint = checkpoint;
        this.embeddings = embeddings;
        this.blocks = blocks;
        this.normF = normF;
        this.lmHead = lmHead;
    }

    /** Loads config.json and the safetensors weights of a Hugging Face model directory. */
    public static NemotronHModel load(Path dir) {
        return load(dir, TimeStepClamp.TRANSFORMERS);
    }

    public static NemotronHModel load(Path dir, TimeStepClamp clamp) {
        return load(dir, clamp, WeightFormat.AS_STORED);
    }

    public static NemotronHModel load(Path dir, TimeStepClamp clamp, WeightFormat format) {
        return load(dir, clamp, format, null);
    }

    /** Reports loading as (layers done, layers in all). */
    public interface LoadProgress {
        void layersLoaded(int done, int total);
    }

    /**
     * Loads a Hugging Face model directory, or a nemotron_h GGUF file: its weights as stored ({@link WeightFormat#GGML})
     * and its Mamba scan as llama.cpp's ({@link TimeStepClamp#LLAMA_CPP}).
     */
    public static NemotronHModel load(Path dir, TimeStepClamp clamp, WeightFormat format, LoadProgress progress) {
        if (NemotronHGguf.isGguf(dir)) {
            if (format != WeightFormat.AS_STORED) {
                throw new IllegalArgumentException("--weights " + format.name().toLowerCase(java.util.Locale.ROOT)
                        + " quantizes a safetensors checkpoint on load; a GGUF file runs in its own types: drop --weights");
            }
            GgufFile gguf = GgufFile.open(dir);
            NemotronHConfig config;
            try {
                config = NemotronHGguf.config(gguf);
            } catch (RuntimeException e) {
                gguf.close();
                throw e;
            }
            Checkpoint ckpt = Checkpoint.ofGguf(gguf, config);
            try {
                return load(config, ckpt, TimeStepClamp.LLAMA_CPP, WeightFormat.GGML, progress);
            } catch (RuntimeException e) {
                ckpt.close();
                throw e;
            }
        }
        NemotronHConfig config = NemotronHConfig.load(dir);
        Checkpoint ckpt = Checkpoint.open(dir);
        try {
            return load(config, ckpt, clamp, format, progress);
        } catch (RuntimeException e) {
            ckpt.close();
            throw e;
        }
    }

    public static NemotronHModel load(NemotronHConfig c, Checkpoint ckpt, TimeStepClamp clamp, WeightFormat f,
                                      LoadProgress progress) {
        WeightSchema schema = WeightSchema.of(c);
        Tensor embeddings = ckpt.get(schema.embeddings);
        List<Block> blocks = new ArrayList<>();
        for (WeightSchema.Layer layer : schema.layers) {
            RmsNorm norm = new RmsNorm(ckpt.get(layer.norm()).toFloatArray(), c.layerNormEpsilon, 1);
            Mixer mixer = switch (layer.mixer()) {
                case BlockWeights.Mamba2 m -> loadMamba(c, clamp, f, ckpt, m);
                case BlockWeights.Attention a -> new AttentionMixer(c, Linear.load(ckpt, a.qProj(), f),
                        Linear.load(ckpt, a.kProj(), f), Linear.load(ckpt, a.vProj(), f), Linear.load(ckpt, a.oProj(), f));
                case BlockWeights.Mlp m -> loadMlp(f, ckpt, m);
                case BlockWeights.Moe m -> loadMoe(c, f, ckpt, m);
            };
            blocks.add(new Block(layer.index(), layer.type(), norm, mixer));
            if (progress != null) progress.layersLoaded(layer.index() + 1, c.numLayers());
        }
        RmsNorm normF = new RmsNorm(ckpt.get(schema.normF).toFloatArray(), c.layerNormEpsilon, 1);
        Linear lmHead = ckpt.find(schema.lmHead.weight()) != null
                ? Linear.load(ckpt, schema.lmHead, f)
                : new Linear(schema.lmHead.prefix(), Linear.weights(embeddings, f), 1f, null);
        return new NemotronHModel(c, ckpt, embeddings, List.copyOf(blocks), normF, lmHead, clamp, f);
    }

    private static Mamba2Mixer loadMamba(NemotronHConfig c, TimeStepClamp clamp, WeightFormat f, Checkpoint ckpt,
                                         BlockWeights.Mamba2 m) {
        return new Mamba2Mixer(c, clamp, Linear.load(ckpt, m.inProj(), f), Linear.load(ckpt, m.outProj(), f),
                ckpt.get(m.convWeight()).toFloatArray(),
                ckpt.floats(m.convBias(), new float[c.convDim()]),
                ckpt.get(m.dtBias()).toFloatArray(),
                ckpt.get(m.aLog()).toFloatArray(),
                ckpt.get(m.d()).toFloatArray(),
                ckpt.get(m.norm()).toFloatArray());
    }

    private static MlpMixer loadMlp(WeightFormat f, Checkpoint ckpt, BlockWeights.Mlp m) {
        return new MlpMixer(Linear.load(ckpt, m.upProj(), f), Linear.load(ckpt, m.downProj(), f));
    }

    private static MoeMixer loadMoe(NemotronHConfig c, WeightFormat f, Checkpoint ckpt, BlockWeights.Moe m) {
        MlpMixer[] experts = m.experts().stream().map(e -> loadMlp(f, ckpt, e)).toArray(MlpMixer[]::new);
        return new MoeMixer(c,
                Linear.load(ckpt, m.gate(), WeightFormat.AS_STORED),
                new TopkRouter(c, ckpt.floats(m.correctionBias(), new float[c.nRoutedExperts])), experts,
                loadMlp(f, ckpt, m.sharedExpert()),
                m.latentIn() != null ? Linear.load(ckpt, m.latentIn(), f) : null,
                m.latentOut() != null ? Linear.load(ckpt, m.latentOut(), f) : null);
    }

    /**
     * Bytes of weights one decode step reads: all linear layers in their in-memory format (for MoE blocks only
     * the top-k routed experts, taken at the average expert size, plus the shared one), and one embedding row.
     */
    @Override
    public long decodeWeightBytes() {
        long bytes = lmHead.weight.bytes() + embeddings.dtype().byteSize(config.hiddenSize);
        for (Block b : blocks) bytes += b.mixer().decodeWeightBytes();
        return bytes;
    }

    /** How new caches store keys and values; float32 unless set (see {@link KvCacheDtype#parse}). */
    private volatile KvCacheDtype kvCacheDtype = KvCacheDtype.FLOAT32;

    /** Sets how caches made from now on store keys and values; returns this model. */
    public NemotronHModel kvCacheDtype(KvCacheDtype dtype) {
        this.kvCacheDtype = java.util.Objects.requireNonNull(dtype);
        return this;
    }

    public KvCacheDtype kvCacheDtype() {
        return kvCacheDtype;
    }

    @Override
    public String stateIdentity() {
        return "cpu weights=" + format + " kv=" + kvCacheDtype + " clamp=" + clamp;
    }

    public HybridCache newCache() {
        return new HybridCache(config, kvCacheDtype);
    }

    /** A fresh cache whose tokens run through {@code adapter} (null: the base model). */
    public HybridCache newCache(LoraAdapter adapter) {
        return new HybridCache(config, kvCacheDtype, Integer.MAX_VALUE, own(adapter));
    }

    /** The model directory the weights come from. */
    public Path dir() {
        return checkpoint.dir();
    }

    @Override
    public LoraAdapter loadAdapter(String name, Path dir) {
        return LoraAdapter.load(name, dir, this);
    }

    private LoraAdapter own(LoraAdapter adapter) {
        if (adapter != null && !adapter.belongsTo(this)) {
            throw new IllegalArgumentException("adapter " + adapter.name + " was loaded for another model instance");
        }
        return adapter;
    }

    /** Every linear layer by its checkpoint name ({@code backbone.layers.0.mixer.in_proj}), the LM head included. */
    Map<String, Linear> linears() {
        Map<String, Linear> all = new LinkedHashMap<>();
        for (Block b : blocks) b.mixer().linears().forEach(l -> all.put(l.name, l));
        all.put(lmHead.name, lmHead);
        return all;
    }

    @Override
    public long cacheBytes(long contextLength) {
        return config.cacheBytes(contextLength, kvCacheDtype.bytes);
    }

    @Override
    public NemotronHConfig config() {
        return config;
    }

    @Override
    public SequenceState newState() {
        return newCache();
    }

    @Override
    public SequenceState newState(int maxLength) {
        return new HybridCache(config, kvCacheDtype, maxLength);
    }

    @Override
    public SequenceState newState(int maxLength, LoraAdapter adapter) {
        return new HybridCache(config, kvCacheDtype, maxLength, own(adapter));
    }

    @Override
    public float[] forwardLast(int[] ids, SequenceState state) {
        return forwardLast(ids, cpuState(state));
    }

    /**
     * One pass through the stack with one row per sequence: every projection and the LM head run once on all rows
     * (decode is bound by reading the weights, so a step of many sequences costs little more than a step of one),
     * while each sequence's Mamba states and KV cache advance on their own.
     */
    @Override
    public float[] decodeBatch(int[] tokens, SequenceState[] states) {
        if (tokens.length != states.length) {
            throw new IllegalArgumentException(tokens.length + " tokens for " + states.length + " sequences");
        }
        int batch = tokens.length;
        if (batch == 0) throw new IllegalArgumentException("no sequences to decode");
        HybridCache[] caches = new HybridCache[batch];
        LoraAdapter[] adapters = new LoraAdapter[batch];
        boolean adapted = false;
        java.util.Set<HybridCache> seen = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
        for (int b = 0; b < batch; b++) {
            caches[b] = cpuState(states[b]);
            if (!seen.add(caches[b])) throw new IllegalArgumentException("sequence " + b + "'s state is already in this batch");
            adapters[b] = own(caches[b].adapter);
            adapted |= adapters[b] != null;
        }
        if (!adapted) adapters = null;
        float[] x = embed(tokens);
        HybridCache.Layer[] layer = new HybridCache.Layer[batch];
        for (Block block : blocks) {
            for (int b = 0; b < batch; b++) layer[b] = caches[b].layer(block.index());
            block.decode(x, batch, layer, adapters);
        }
        for (HybridCache c : caches) c.advance(1);
        return lmHead.forward(normF.forward(x, batch), batch);
    }

    @Override
    public StateSnapshot snapshot(SequenceState state, int from, int to) {
        return cpuState(state).snapshot(from, to);
    }

    @Override
    public void restore(SequenceState state, java.util.List<StateSnapshot> prefix) {
        cpuState(state).restore(prefix);
    }

    private static HybridCache cpuState(SequenceState state) {
        if (state instanceof HybridCache cache) return cache;
        throw new IllegalArgumentException("a " + state.getClass().getSimpleName() + " belongs to another backend");
    }

    /**
     * Runs {@code ids} through the model and returns the logits of every position, [len, vocab]. With a cache, the
     * tokens continue the cached sequence and the cache advances; without one, this is a fresh uncached forward.
     */
    public float[] forward(int[] ids, HybridCache cache, HiddenStates listener) {
        float[] x = hiddenStates(ids, cache, cache == null ? null : own(cache.adapter), listener);
        return lmHead.forward(x, ids.length);
    }

    public float[] forward(int[] ids, HybridCache cache) {
        return forward(ids, cache, null);
    }

    /** An uncached forward through {@code adapter} (null: the base model): the logits of every position, [len, vocab]. */
    public float[] forwardThrough(int[] ids, LoraAdapter adapter) {
        return lmHead.forward(hiddenStates(ids, null, own(adapter), null), ids.length);
    }

    /** Like {@link #forward}, but computes the LM head for the last position only, as generation needs. */
    public float[] forwardLast(int[] ids, HybridCache cache) {
        float[] x = hiddenStates(ids, cache, cache == null ? null : own(cache.adapter), null);
        int h = config.hiddenSize;
        float[] last = new float[h];
        System.arraycopy(x, (ids.length - 1) * h, last, 0, h);
        return lmHead.forward(last, 1);
    }

    private float[] hiddenStates(int[] ids, HybridCache cache, LoraAdapter adapter, HiddenStates listener) {
        int len = ids.length;
        if (len == 0) throw new IllegalArgumentException("no input tokens");
        float[] x = embed(ids);
        if (listener != null) listener.accept(0, x, len);
        LoraAdapter[] adapters = LoraAdapter.forRows(adapter, len);
        for (Block b : blocks) {
            b.forward(x, len, cache == null ? null : cache.layer(b.index()), adapters);
            if (listener != null) listener.accept(b.index() + 1, x, len);
        }
        if (cache != null) cache.advance(len);
        float[] out = normF.forward(x, len);
        if (listener != null) listener.accept(blocks.size() + 1, out, len);
        return out;
    }

    private float[] embed(int[] ids) {
        int h = config.hiddenSize;
        float[] x = new float[ids.length * h];
        for (int t = 0; t < ids.length; t++) {
            int id = ids[t];
            if (id < 0 || id >= config.vocabSize) {
                throw new IllegalArgumentException("token id " + id + " at position " + t + " is outside the vocabulary [0, "
                        + config.vocabSize + ")");
            }
            embeddings.readFloats((long) id * h, h, x, t * h);
        }
        return x;
    }

    @Override
    public void close() {
        checkpoint.close();
    }
}
