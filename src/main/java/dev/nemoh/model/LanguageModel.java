package dev.nemoh.model;

import dev.nemoh.config.NemotronHConfig;

/**
 * The model as generation, chat, the server and benchmarks drive it, whatever computes it: {@link NemotronHModel}
 * on the CPU, or a GPU backend. Sequence state (Mamba conv/SSM states and KV caches) lives where the compute does,
 * so callers only hold it as an opaque {@link SequenceState}.
 */
public interface LanguageModel extends AutoCloseable {
    /** The per-sequence recurrent state and KV caches, owned by the model that created it. */
    interface SequenceState {
        /** Tokens this state has consumed. */
        int length();

        /**
         * Frees what the state holds outside the Java heap now (the GPU's caches) instead of when it is found
         * unreachable; the state cannot be used after. Heap states have nothing to free.
         */
        default void release() {}
    }

    /**
     * Part of one sequence's state, as the {@link PrefixCache} keeps it: the keys and values of some consecutive
     * tokens in every attention layer, and every Mamba layer's conv and SSM states after the last of them.
     */
    interface StateSnapshot {
        /** Tokens whose keys and values it holds. */
        int tokens();

        /** Memory it holds (heap or device), which the prefix cache bounds. */
        long bytes();

        /** Frees what it holds now rather than when it is no longer reachable; it is not used afterwards. */
        default void release() {}
    }

    NemotronHConfig config();

    /**
     * What, besides the weights themselves and the tokens, decides the states this model computes (device, weight
     * format, KV dtype, time-step clamp): states of models that differ in it must not mix. Null when this backend
     * cannot snapshot its states, and so has no prefix cache.
     */
    default String stateIdentity() {
        return null;
    }

    /**
     * A copy of the keys and values of tokens [from, to) of {@code state} and of its Mamba states now; {@code state}
     * has just prefilled tokens up to {@code to}. Only backends with a {@link #stateIdentity()} take snapshots; null
     * when the backend has no memory for one now (the prefix cache then stores nothing).
     */
    default StateSnapshot snapshot(SequenceState state, int from, int to) {
        throw new UnsupportedOperationException("this backend does not snapshot sequence states");
    }

    /**
     * Fills the empty {@code state} from snapshots of consecutive tokens of one prompt from its start: the keys and
     * values of each in order, the Mamba states of the last; the state then holds all their tokens.
     */
    default void restore(SequenceState state, java.util.List<StateSnapshot> prefix) {
        throw new UnsupportedOperationException("this backend does not snapshot sequence states");
    }

    /** A fresh, empty state for one sequence, whose caches grow as long as the sequence does. */
    SequenceState newState();

    /**
     * A fresh, empty state for one sequence that will hold at most {@code maxLength} tokens: its caches never take
     * more than {@link #cacheBytes}{@code (maxLength)}, which is what the server reserves for it, and feeding it more
     * tokens fails.
     */
    SequenceState newState(int maxLength);

    /**
     * As {@link #newState(int)}, for a sequence whose every token runs through {@code adapter} (null: the base
     * model); the adapter must have been loaded by this model ({@link #loadAdapter}).
     */
    default SequenceState newState(int maxLength, LoraAdapter adapter) {
        if (adapter == null) return newState(maxLength);
        throw new IllegalArgumentException("adapter " + adapter.name + " was not loaded by this model");
    }

    /**
     * Reads a PEFT adapter (LoRA or DoRA) for this model, to run unmerged ({@link LoraAdapter}); {@code name} is how
     * requests and logs call it. Backends that cannot run adapters refuse with one line.
     */
    default LoraAdapter loadAdapter(String name, java.nio.file.Path dir) {
        throw new IllegalArgumentException("adapters run on the CPU only for now: use --device cpu with an adapter");
    }

    /** Feeds {@code ids} after what {@code state} holds and returns the logits of the last position, [vocab]. */
    float[] forwardLast(int[] ids, SequenceState state);

    /**
     * One decode step for several sequences at once: {@code tokens[b]} continues {@code states[b]}. Returns the
     * logits [batch, vocab]. Each row must equal what {@link #forwardLast} gives for that sequence alone.
     */
    float[] decodeBatch(int[] tokens, SequenceState[] states);

    /** Bytes of state one sequence of {@code contextLength} tokens holds (Mamba states and the KV cache). */
    long cacheBytes(long contextLength);

    /** Whether sequence states live in the Java heap (the CPU model's) rather than in device memory. */
    default boolean statesOnHeap() {
        return true;
    }

    /** Bytes of weights one decode step reads, for roofline figures. */
    long decodeWeightBytes();

    @Override
    void close();
}
