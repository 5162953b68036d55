package dev.nemoh.cuda;

/**
 * One forward call as the layers see it: {@code len} new tokens for each of {@code sequences} sequences (a prefill
 * is one sequence of many tokens, a batched decode step many sequences of one token), activation rows ordered by
 * sequence then token. {@code ids} (device int[rows]) holds the token ids, {@code lengths} (device
 * int[sequences]) each sequence's length before the call and {@code tables} (device u64) each sequence's state
 * buffers, by layer and slot; {@code maxLength} is the longest of those lengths.
 */
record CudaStep(int sequences, int len, long ids, long lengths, long tables, int maxLength, CudaState[] states) {
    int rows() {
        return sequences * len;
    }

    /**
     * The power of two above {@link #maxLength} (at least 1024): the keys a decoded token may see after it is appended
     * stay below it, and a captured decode step is replayed for every length of its bucket.
     */
    int lengthBucket() {
        return Math.max(1024, Integer.highestOneBit(maxLength) << 1);
    }

    /** Device address of the pointer table of {@code layer}'s slot (0: conv state or keys; 1: SSM state or values). */
    long table(int layer, int slot) {
        return tables + 8L * (2L * layer + slot) * sequences;
    }
}
