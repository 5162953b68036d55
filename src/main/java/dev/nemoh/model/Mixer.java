package dev.nemoh.model;

/** The token mixer or channel mixer of one block, applied to the block's normalised input. */
public sealed interface Mixer permits Mamba2Mixer, AttentionMixer, MlpMixer, MoeMixer {
    /**
     * @param x     [len, hidden] row-major
     * @param len   tokens in this call
     * @param cache    this layer's state for the sequence, or null for an uncached forward
     * @param adapters the adapter of each row (null entries: the base model), or null when no row has one
     * @return [len, hidden]
     */
    float[] forward(float[] x, int len, HybridCache.Layer cache, LoraAdapter[] adapters);

    /**
     * One decode step for {@code batch} sequences at once: row b of {@code x} is the next token of the sequence whose
     * layer state is {@code caches[b]}. The projections run once over all rows, so their weights are read once per
     * step whatever the batch; only the per-sequence state updates loop over the rows.
     *
     * @param x      [batch, hidden] row-major
     * @param caches   this layer's state of each sequence (entries are null for stateless layers)
     * @param adapters the adapter of each sequence (null entries: the base model), or null when none has one
     * @return [batch, hidden]
     */
    float[] decode(float[] x, int batch, HybridCache.Layer[] caches, LoraAdapter[] adapters);

    /** The mixer's linear layers that adapters may sit on, and any others. */
    java.util.List<Linear> linears();

    /** Bytes of weights one token reads in this mixer. */
    long decodeWeightBytes();
}
