package dev.nemoh.cuda;

/**
 * A decoded token's attention over its sequence's bf16 KV cache, split-key (flash-decoding, attention_decode.cu):
 * each block reads a contiguous slice of the cache once for all the query heads of its GQA group (up to 8) and
 * leaves a partial max, sum and weighted values per query head; a second small kernel combines the slices.
 */
final class CudaDecodeAttention {
    /** Decode blocks per SM to aim for: several, so that the key loads of enough warps are in flight. */
    private static final int BLOCKS_PER_SM = 4;
    /** At most this many key splits per (sequence, KV head). */
    static final int MAX_SPLITS = 256;
    /**
     * Keys per split a long cache is cut into, when that gives more splits than the batch alone asks for: more,
     * shorter blocks than one wave of the GPU holds, so the last wave's idle SMs cost less.
     */
    static final int SPLIT_KEYS = 1024;
    private static final int THREADS = 128;

    private final int heads, kvHeads, headDim, multiprocessors;
    private final float scaling;
    /** Lanes that read one key row (8 bf16 each), and the kernel's instance for the GQA group. */
    private final int laneGroup, instance;
    /** Query heads one block scores (at most 8), and the blocks that share one KV head's query heads. */
    private final int partHeads, groupParts;

    CudaDecodeAttention(int heads, int kvHeads, int headDim, int multiprocessors) {
        this.heads = heads;
        this.kvHeads = kvHeads;
        this.headDim = headDim;
        this.multiprocessors = multiprocessors;
        scaling = (float) (1.0 / Math.sqrt(headDim));
        int group = heads / kvHeads;
        laneGroup = Integer.highestOneBit(headDim / 8 * 2 - 1);
        // groups of more than 8 query heads (Nemotron 3 Nano has 16) run in parts of 8, each reading the keys again
        partHeads = Math.min(group, 8);
        // an instance per common group (Nano v2's 5 query heads a KV head among them), else the next power of two
        instance = partHeads == 5 ? 5 : Integer.highestOneBit(partHeads * 2 - 1);
        groupParts = (group + partHeads - 1) / partHeads;
    }

    /**
     * Key splits for {@code batch} sequences whose caches hold fewer than {@code lengthBucket} keys (fixed within a
     * {@link CudaStep#lengthBucket}, so a captured step serves every length of its bucket): enough for
     * {@link #BLOCKS_PER_SM} blocks per SM, or one per {@link #SPLIT_KEYS} keys of the bucket when that is more.
     */
    int splits(int batch, int lengthBucket) {
        int blocks = kvHeads * groupParts * batch;
        int fill = (BLOCKS_PER_SM * multiprocessors + blocks - 1) / blocks;
        return Math.clamp(Math.max(fill, lengthBucket / SPLIT_KEYS), 1, MAX_SPLITS);
    }

    /**
     * {@code out[b, heads·headDim]} = each sequence's queries (the first heads·headDim columns of its row of
     * {@code qkv}) attending over its {@code lengths[b] + 1} cached keys and values ({@code keys} and {@code values}:
     * device tables of one cache pointer per sequence), in {@code splits} slices.
     */
    void attend(CudaDevice d, int batch, int splits, long qkv, int stride, long keys, long values, long lengths, long out) {
        long partial = d.workspace.get("attn.partial", 4L * batch * heads * splits * (headDim + 2));
        int shared = 4 * (THREADS / laneGroup) * partHeads * (headDim + 2);
        d.kernels.attnDecodePartial(instance, kvHeads * groupParts, splits, batch, THREADS, shared, qkv, stride, keys,
                values, lengths, partial, heads, kvHeads, headDim, laneGroup, splits, scaling);
        d.kernels.attnDecodeCombine(heads, batch, (headDim + 31) / 32 * 32, partial, out, heads, headDim, splits);
    }
}
