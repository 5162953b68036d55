package dev.nemoh.generate;

import dev.nemoh.model.LanguageModel;
import dev.nemoh.model.LoraAdapter;
import dev.nemoh.model.PrefixCache;

import java.util.ArrayDeque;
import java.util.Deque;

/**
 * One sequence being generated: the prompt is prefilled on creation, then each {@link #next()} picks a token
 * (sampled, or forced by the caller) and feeds it back through the cache. Tokens are fed lazily, at the next call,
 * so the last token costs no forward pass. {@link #next()} runs the model itself; a batching loop instead feeds
 * {@link #pendingToken()} of many sequences in one step and calls {@link #acceptLogits} and {@link #choose()}.
 * Not thread-safe.
 */
public final class Generation {
    private final LanguageModel model;
    private final LanguageModel.SequenceState state;
    private final Sampler sampler;
    private final Deque<Integer> forced = new ArrayDeque<>();
    private final int limit;
    private float[] logits;
    private int pending = -1;
    /** The token a {@link BatchDecoder} picked for the next {@link #choose()}, or -1. */
    private int picked = -1;
    private int generated;
    private boolean stoppedAtStopToken;
    private final long prefillNanos;
    private final int cachedTokens;
    private long decodeNanos;

    public Generation(LanguageModel model, int[] prompt, SamplingParams params) {
        this(model, prompt, params, null, null, null);
    }

    /** @param mask constrains which tokens may be chosen (structured output); null for none */
    public Generation(LanguageModel model, int[] prompt, SamplingParams params, TokenMask mask) {
        this(model, prompt, params, null, null, mask);
    }

    /**
     * A generation whose every token runs through {@code adapter} (null: the base model; see {@link LoraAdapter}) and
     * whose prompt resumes from the longest prefix {@code prefixCache} holds for that adapter (and leaves its own
     * snapshots there); a null cache prefills the whole prompt.
     */
    public Generation(LanguageModel model, int[] prompt, SamplingParams params, PrefixCache prefixCache, LoraAdapter adapter) {
        this(model, prompt, params, prefixCache, adapter, null);
    }

    /** As above, with a token mask (may be null) constraining which tokens may be chosen. */
    public Generation(LanguageModel model, int[] prompt, SamplingParams params, PrefixCache prefixCache,
                      LoraAdapter adapter, TokenMask mask) {
        int context = model.config().maxPositionEmbeddings;
        if (prompt.length == 0) throw new IllegalArgumentException("the prompt is empty: give at least one token");
        if (prompt.length + params.maxTokens() > context) {
            throw new IllegalArgumentException("prompt (" + prompt.length + " tokens) + max tokens (" + params.maxTokens()
                    + ") exceeds the model's context of " + context + " tokens (max_position_embeddings);"
                    + " shorten the prompt or lower --max-tokens");
        }
        this.model = model;
        // the cache never grows beyond what the server reserves for this sequence (prompt + max tokens)
        this.state = model.newState(prompt.length + params.maxTokens(), adapter);
        this.sampler = new Sampler(params, model.config().vocabSize, prompt, mask);
        this.limit = params.maxTokens();
        long t0 = System.nanoTime();
        if (prefixCache == null) {
            this.logits = model.forwardLast(prompt, state);
            this.cachedTokens = 0;
        } else {
            PrefixCache.Prefill p = prefixCache.prefill(prompt, state, adapter == null ? PrefixCache.NO_ADAPTER : adapter.identity());
            this.logits = p.logits();
            this.cachedTokens = p.cachedTokens();
        }
        this.prefillNanos = System.nanoTime() - t0;
    }

    /** Whether generation has ended: max tokens reached or a stop token emitted. */
    public boolean done() {
        return generated >= limit || stoppedAtStopToken;
    }

    /** Makes the next tokens these instead of sampled ones (e.g. {@code </think>} when a thinking budget runs out). */
    public void force(int... tokens) {
        for (int t : tokens) forced.addLast(t);
    }

    /** Picks, records and returns the next token, first feeding the previous one through the model. */
    public int next() {
        if (done()) throw new IllegalStateException("generation is over");
        long t0 = System.nanoTime();
        if (pending >= 0) acceptLogits(model.forwardLast(new int[] {pending}, state));
        int token = choose();
        decodeNanos += System.nanoTime() - t0;
        return token;
    }

    /**
     * The token chosen last that the model has not seen yet, or -1. A loop that decodes many sequences in one batched
     * step feeds it (with {@link #state()}) to {@link LanguageModel#decodeBatch} and hands the row of logits to
     * {@link #acceptLogits}, then calls {@link #choose()}.
     */
    public int pendingToken() {
        return pending;
    }

    public LanguageModel.SequenceState state() {
        return state;
    }

    /** Takes the logits computed for {@link #pendingToken()} by a batched step; {@code logits} may be longer than the vocabulary. */
    public void acceptLogits(float[] logits) {
        if (pending < 0) throw new IllegalStateException("no token is waiting for its logits");
        this.logits = logits;
        this.picked = -1;
        pending = -1;
    }

    /**
     * Takes the token a {@link BatchDecoder} picked with {@link #sampler()} from the logits of {@link #pendingToken()}
     * (instead of {@link #acceptLogits}); {@link #choose()} then records it, unless a forced token comes first.
     */
    public void acceptPicked(int token) {
        if (pending < 0) throw new IllegalStateException("no token is waiting for its logits");
        this.logits = null;
        this.picked = token;
        pending = -1;
    }

    /** The sampler that picks this sequence's tokens, for a {@link BatchDecoder} that picks them where it computes. */
    public Sampler sampler() {
        return sampler;
    }

    /**
     * Picks and records the next token: a forced one, else the one a {@link BatchDecoder} picked, else one sampled
     * from the logits at hand (the prompt's, or the last accepted ones).
     */
    public int choose() {
        if (done()) throw new IllegalStateException("generation is over");
        if (pending >= 0) throw new IllegalStateException("token " + pending + " has not been fed through the model yet");
        int token = !forced.isEmpty() ? forced.removeFirst() : picked >= 0 ? picked : sampler.sample(logits);
        picked = -1;
        sampler.accept(token);
        pending = token;
        generated++;
        if (sampler.isStopToken(token)) stoppedAtStopToken = true;
        return token;
    }

    /** Logprobs of the last sampled token, or null when not requested. */
    public Sampler.Logprobs lastLogprobs() {
        return sampler.lastLogprobs();
    }

    public boolean stoppedAtStopToken() {
        return stoppedAtStopToken;
    }

    public int generated() {
        return generated;
    }

    public long seed() {
        return sampler.seed();
    }

    public long prefillNanos() {
        return prefillNanos;
    }

    /** Prompt tokens taken from the prefix cache rather than prefilled. */
    public int cachedTokens() {
        return cachedTokens;
    }

    public long decodeNanos() {
        return decodeNanos;
    }
}
