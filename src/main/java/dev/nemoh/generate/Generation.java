package dev.nemoh.generate;

import dev.nemoh.model.LanguageModel;

import java.util.ArrayDeque;
import java.util.Deque;

/**
 * One sequence being generated: the prompt is prefilled on creation, then each {@link #next()} picks a token
 * (sampled, or forced by the caller) and feeds it back through the cache. Tokens are fed lazily, at the next call,
 * so the last token costs no forward pass. Not thread-safe.
 */
public final class Generation {
    private final LanguageModel model;
    private final LanguageModel.SequenceState state;
    private final Sampler sampler;
    private final Deque<Integer> forced = new ArrayDeque<>();
    private final int limit;
    private float[] logits;
    private int pending = -1;
    private int generated;
    private boolean stoppedAtStopToken;
    private final long prefillNanos;
    private long decodeNanos;

    public Generation(LanguageModel model, int[] prompt, SamplingParams params) {
        int context = model.config().maxPositionEmbeddings;
        if (prompt.length == 0) throw new IllegalArgumentException("the prompt is empty: give at least one token");
        if (prompt.length + params.maxTokens() > context) {
            throw new IllegalArgumentException("prompt (" + prompt.length + " tokens) + max tokens (" + params.maxTokens()
                    + ") exceeds the model's context of " + context + " tokens (max_position_embeddings);"
                    + " shorten the prompt or lower --max-tokens");
        }
        this.model = model;
        this.state = model.newState();
        this.sampler = new Sampler(params, model.config().vocabSize, prompt);
        this.limit = params.maxTokens();
        long t0 = System.nanoTime();
        this.logits = model.forwardLast(prompt, state);
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

    /** Picks, records and returns the next token. */
    public int next() {
        if (done()) throw new IllegalStateException("generation is over");
        long t0 = System.nanoTime();
        if (pending >= 0) logits = model.forwardLast(new int[] {pending}, state);
        int token = forced.isEmpty() ? sampler.sample(logits) : forced.removeFirst();
        sampler.accept(token);
        pending = token;
        generated++;
        if (sampler.isStopToken(token)) stoppedAtStopToken = true;
        decodeNanos += System.nanoTime() - t0;
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

    public long decodeNanos() {
        return decodeNanos;
    }
}
