package dev.nemoh.generate;

import java.util.Collection;
import java.util.Collections;
import java.util.Set;
import java.util.TreeSet;

/**
 * How to pick each next token, with the meanings vLLM and Hugging Face users expect. Every component is checked on
 * construction; a bad value gives an {@link IllegalArgumentException} that names the field, the rule and the value.
 *
 * @param temperature       divides the logits before sampling; {@code 0} means greedy (argmax of the penalised
 *                          logits; the seed and top-k/top-p/min-p are then ignored). Must be finite and {@code >= 0}.
 * @param topK              keep the {@code topK} most likely tokens (and any tied with the last of them);
 *                          {@code 0} or {@code -1} = off.
 * @param topP              nucleus sampling: keep the smallest set of most likely tokens whose probability
 *                          reaches {@code topP}; in {@code (0, 1]}, {@code 1} = off.
 * @param minP              keep tokens whose probability is at least {@code minP} times the most likely token's;
 *                          in {@code [0, 1]}, {@code 0} = off.
 * @param repetitionPenalty Hugging Face / CTRL penalty for every token present in the prompt or the output (once,
 *                          however often it occurs): {@code logit > 0 ? logit / p : logit * p}; {@code > 0},
 *                          {@code 1} = off.
 * @param presencePenalty   OpenAI/vLLM: subtracted from the logit of every token generated at least once (prompt
 *                          tokens do not count); in {@code [-2, 2]}, {@code 0} = off.
 * @param frequencyPenalty  OpenAI/vLLM: {@code frequencyPenalty * count} subtracted, count = how often the token
 *                          was generated so far (prompt tokens do not count); in {@code [-2, 2]}, {@code 0} = off.
 * @param seed              seed of the per-request random generator; {@code null} = a fresh random seed (readable
 *                          afterwards from {@link Sampler#seed()} to reproduce the run).
 * @param logprobs          {@code -1} = no logprobs; {@code 0} = the chosen token's logprob only; {@code n > 0} =
 *                          also the {@code n} most likely alternatives (clamped to the vocabulary).
 * @param maxTokens         most tokens to generate, {@code >= 1}.
 * @param stopTokenIds      token ids that end generation (the stop token is emitted); never null, ids {@code >= 0}.
 */
public record SamplingParams(
        double temperature,
        int topK,
        double topP,
        double minP,
        double repetitionPenalty,
        double presencePenalty,
        double frequencyPenalty,
        Long seed,
        int logprobs,
        int maxTokens,
        Set<Integer> stopTokenIds) {

    /** vLLM's default for {@code max_tokens}. */
    public static final int DEFAULT_MAX_TOKENS = 16;

    public SamplingParams {
        if (!(temperature >= 0) || Double.isInfinite(temperature)) {
            throw new IllegalArgumentException("temperature must be >= 0 and finite (0 = greedy), got " + fmt(temperature));
        }
        if (topK < -1) {
            throw new IllegalArgumentException("topK must be >= 1, or 0 or -1 to turn it off, got " + topK);
        }
        if (!(topP > 0 && topP <= 1)) {
            throw new IllegalArgumentException("topP must be in (0, 1] (1 = off), got " + fmt(topP));
        }
        if (!(minP >= 0 && minP <= 1)) {
            throw new IllegalArgumentException("minP must be in [0, 1] (0 = off), got " + fmt(minP));
        }
        if (!(repetitionPenalty > 0) || Double.isInfinite(repetitionPenalty)) {
            throw new IllegalArgumentException("repetitionPenalty must be > 0 and finite (1 = off), got "
                    + fmt(repetitionPenalty));
        }
        if (!(presencePenalty >= -2 && presencePenalty <= 2)) {
            throw new IllegalArgumentException("presencePenalty must be in [-2, 2] (0 = off), got " + fmt(presencePenalty));
        }
        if (!(frequencyPenalty >= -2 && frequencyPenalty <= 2)) {
            throw new IllegalArgumentException("frequencyPenalty must be in [-2, 2] (0 = off), got "
                    + fmt(frequencyPenalty));
        }
        if (logprobs < -1) {
            throw new IllegalArgumentException("logprobs must be >= 0, or -1 for none, got " + logprobs);
        }
        if (maxTokens < 1) {
            throw new IllegalArgumentException("maxTokens must be >= 1, got " + maxTokens);
        }
        if (stopTokenIds == null) {
            throw new IllegalArgumentException("stopTokenIds must not be null (use an empty set)");
        }
        TreeSet<Integer> ids = new TreeSet<>();
        for (Integer id : stopTokenIds) {
            if (id == null) throw new IllegalArgumentException("stopTokenIds must not contain null");
            if (id < 0) throw new IllegalArgumentException("stop token ids must be >= 0, got " + id);
            ids.add(id);
        }
        stopTokenIds = Collections.unmodifiableSortedSet(ids);
    }

    /** vLLM's defaults: temperature 1, no filters, no penalties, random seed, no logprobs, 16 tokens, no stop ids. */
    public static SamplingParams defaults() {
        return builder().build();
    }

    /** Greedy decoding (temperature 0), everything else at its default. */
    public static SamplingParams greedy() {
        return builder().temperature(0).build();
    }

    public static Builder builder() {
        return new Builder();
    }

    public Builder toBuilder() {
        return new Builder(this);
    }

    /** Temperature 0: the sampler takes the argmax of the penalised logits and uses no randomness. */
    public boolean isGreedy() {
        return temperature == 0;
    }

    /** Whether a repetition, presence or frequency penalty is on. */
    public boolean penalises() {
        return repetitionPenalty != 1 || presencePenalty != 0 || frequencyPenalty != 0;
    }

    /** Whether {@code token} ends generation. */
    public boolean isStopToken(int token) {
        return stopTokenIds.contains(token);
    }

    public SamplingParams withTemperature(double v) { return toBuilder().temperature(v).build(); }
    public SamplingParams withTopK(int v) { return toBuilder().topK(v).build(); }
    public SamplingParams withTopP(double v) { return toBuilder().topP(v).build(); }
    public SamplingParams withMinP(double v) { return toBuilder().minP(v).build(); }
    public SamplingParams withRepetitionPenalty(double v) { return toBuilder().repetitionPenalty(v).build(); }
    public SamplingParams withPresencePenalty(double v) { return toBuilder().presencePenalty(v).build(); }
    public SamplingParams withFrequencyPenalty(double v) { return toBuilder().frequencyPenalty(v).build(); }
    public SamplingParams withSeed(Long v) { return toBuilder().seed(v).build(); }
    public SamplingParams withLogprobs(int v) { return toBuilder().logprobs(v).build(); }
    public SamplingParams withMaxTokens(int v) { return toBuilder().maxTokens(v).build(); }
    public SamplingParams withStopTokenIds(Collection<Integer> v) { return toBuilder().stopTokenIds(v).build(); }

    /** Mutable builder starting from {@link #defaults()}; {@link #build()} validates. */
    public static final class Builder {
        private double temperature = 1;
        private int topK = 0;
        private double topP = 1;
        private double minP = 0;
        private double repetitionPenalty = 1;
        private double presencePenalty = 0;
        private double frequencyPenalty = 0;
        private Long seed = null;
        private int logprobs = -1;
        private int maxTokens = DEFAULT_MAX_TOKENS;
        private Set<Integer> stopTokenIds = Set.of();

        private Builder() {}

        private Builder(SamplingParams p) {
            temperature = p.temperature;
            topK = p.topK;
            topP = p.topP;
            minP = p.minP;
            repetitionPenalty = p.repetitionPenalty;
            presencePenalty = p.presencePenalty;
            frequencyPenalty = p.frequencyPenalty;
            seed = p.seed;
            logprobs = p.logprobs;
            maxTokens = p.maxTokens;
            stopTokenIds = p.stopTokenIds;
        }

        public Builder temperature(double v) { temperature = v; return this; }
        public Builder topK(int v) { topK = v; return this; }
        public Builder topP(double v) { topP = v; return this; }
        public Builder minP(double v) { minP = v; return this; }
        public Builder repetitionPenalty(double v) { repetitionPenalty = v; return this; }
        public Builder presencePenalty(double v) { presencePenalty = v; return this; }
        public Builder frequencyPenalty(double v) { frequencyPenalty = v; return this; }
        public Builder seed(Long v) { seed = v; return this; }
        public Builder seed(long v) { seed = v; return this; }
        public Builder logprobs(int v) { logprobs = v; return this; }
        public Builder maxTokens(int v) { maxTokens = v; return this; }

        public Builder stopTokenIds(Collection<Integer> v) {
            if (v == null) throw new IllegalArgumentException("stopTokenIds must not be null (use an empty set)");
            stopTokenIds = new TreeSet<>();
            for (Integer id : v) {
                if (id == null) throw new IllegalArgumentException("stopTokenIds must not contain null");
                stopTokenIds.add(id);
            }
            return this;
        }

        public Builder stopTokenIds(int... v) {
            TreeSet<Integer> ids = new TreeSet<>();
            for (int id : v) ids.add(id);
            stopTokenIds = ids;
            return this;
        }

        public SamplingParams build() {
            return new SamplingParams(temperature, topK, topP, minP, repetitionPenalty, presencePenalty,
                    frequencyPenalty, seed, logprobs, maxTokens, stopTokenIds);
        }
    }

    /** {@code -1} rather than {@code -1.0} in messages; other values as Java prints them. */
    private static String fmt(double v) {
        if (v == Math.rint(v) && !Double.isInfinite(v) && Math.abs(v) < 1e15) return Long.toString((long) v);
        return Double.toString(v);
    }
}
