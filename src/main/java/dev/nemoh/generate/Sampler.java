package dev.nemoh.generate;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Picks next tokens for one request according to {@link SamplingParams}. Not thread-safe: make one per request.
 *
 * <p>Use: construct with the prompt, then for every step call {@link #sample(float[])} on the model's logits, and
 * {@link #accept(int)} with the token that is really appended to the sequence (the sampled one, or a token the
 * caller forces, such as {@code </think>} when a thinking budget runs out). {@code accept} feeds the repetition,
 * presence and frequency penalties; {@code sample} itself changes no history.
 *
 * <p>Processing order, as in Hugging Face and vLLM: penalties (repetition over prompt + output, then frequency, then
 * presence over the output) → the {@link TokenMask}, if any (disallowed tokens get -∞) → temperature → top-k → top-p → min-p → draw. Temperature 0 is greedy: the argmax of the
 * penalised logits (lowest id on ties, like {@code torch.argmax}), with no randomness. Ties at the top-k and top-p
 * boundaries keep every tied token (HF's top-k does the same; its top-p keeps an arbitrary part of a tie).
 * Penalties are computed in float32 as transformers and vLLM do on float32 logits.
 *
 * <p>Logprobs follow vLLM's default ({@code logprobs_mode=raw_logprobs}): {@code log_softmax} of the raw logits
 * handed to {@link #sample(float[])}, before penalties, temperature and filters, so they describe the model rather
 * than the sampling settings, and are the same for greedy and sampled decoding.
 *
 * <p>Cost per token for a vocabulary of V: a few linear passes and V vectorised {@code exp}s (about k with top-k);
 * no sort of the vocabulary. Top-k, top-p and the top logprobs find their cut-off from a histogram over the logits
 * (by count for top-k, by probability mass for top-p) and sort only the tokens of the one 1/256-nat bucket that
 * holds the cut. Sampling probabilities are float32 (as in vLLM), summed in double; logprobs are computed in
 * double. Scratch arrays are allocated once per sampler (about 4 MB for V = 131,072, 1 MB more with logprobs), so
 * a step allocates nothing; greedy decoding costs least, sampling and logprobs add passes over the vocabulary.
 */
public final class Sampler {
    /** One token and its logprob. */
    public record TokenLogprob(int token, double logprob) {}

    /**
     * Logprobs of one step.
     *
     * @param token   the chosen token
     * @param logprob its log-probability under the raw model distribution
     * @param rank    1-based rank of the chosen token: how many tokens have a logprob {@code >=} its own (vLLM)
     * @param top     the {@code params.logprobs()} most likely tokens, most likely first (ties: lower id first);
     *                empty when {@code logprobs == 0}
     */
    public record Logprobs(int token, double logprob, int rank, List<TokenLogprob> top) {}

    /**
     * Top-p keeps adding tokens until their mass reaches {@code topP - TOP_P_SLACK}, so that a boundary that holds
     * in exact arithmetic (0.5 + 0.3 reaching 0.8) is not lost to rounding.
     */
    static final double TOP_P_SLACK = 1e-6;

    /** Histogram for the top-k / top-p / top-logprobs cuts: 1/256 nat buckets over 64 nats below the maximum. */
    private static final int HIST = 1 << 14;
    private static final float PER_NAT = 256f;

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Double> D = DoubleVector.SPECIES_PREFERRED;

    private final SamplingParams params;
    private final int vocab;
    private final long seed;
    private final SplittableRandom random;

    private final float[] work;
    private final float[] weight;
    private final int[] cand;
    private final int[] outputCounts;
    private final boolean[] seen;
    private int[] distinct = new int[64];
    private int distinctCount;
    private int generated;

    /** Allocated on first use: greedy decoding without top logprobs never needs it. */
    private double[] hist;
    private long[] sortKeys;
    private int[] buckets;
    private double[] wide;
    private int keptCount;
    private double keptMass;

    private Logprobs lastLogprobs;
    private final TokenMask mask;

    /** A sampler with no prompt context (the repetition penalty then only sees accepted tokens). */
    public Sampler(SamplingParams params, int vocabSize) {
        this(params, vocabSize, new int[0]);
    }

    /** A sampler whose tokens are free (no {@link TokenMask}). */
    public Sampler(SamplingParams params, int vocabSize, int[] prompt) {
        this(params, vocabSize, prompt, null);
    }

    /**
     * @param params    the request's settings
     * @param vocabSize number of logits per step (the model's {@code vocab_size})
     * @param prompt    the prompt's token ids, which count for the repetition penalty only
     * @param mask      the constraint on which tokens may come next (structured output), applied after the
     *                  penalties; null for none
     */
    public Sampler(SamplingParams params, int vocabSize, int[] prompt, TokenMask mask) {
        if (params == null) throw new IllegalArgumentException("params must not be null");
        if (vocabSize < 1) throw new IllegalArgumentException("vocabSize must be >= 1, got " + vocabSize);
        if (prompt == null) throw new IllegalArgumentException("prompt must not be null (use an empty array)");
        this.params = params;
        this.vocab = vocabSize;
        this.mask = mask;
        this.seed = params.seed() != null ? params.seed() : new SplittableRandom().nextLong();
        this.random = new SplittableRandom(seed);
        this.work = new float[vocabSize];
        this.outputCounts = new int[vocabSize];
        this.seen = new boolean[vocabSize];
        boolean greedy = params.isGreedy();
        this.weight = greedy ? null : new float[vocabSize];
        this.cand = greedy ? null : new int[vocabSize];
        for (int t : prompt) {
            checkToken(t, "prompt token");
            markSeen(t);
        }
    }

    public SamplingParams params() {
        return params;
    }

    public int vocabSize() {
        return vocab;
    }

    /** The seed actually used: {@code params.seed()}, or the random one drawn when that was null. */
    public long seed() {
        return seed;
    }

    /** How many tokens were {@linkplain #accept(int) accepted} so far. */
    public int generatedCount() {
        return generated;
    }

    /** How often {@code token} was accepted so far (the count the frequency penalty uses). */
    public int count(int token) {
        checkToken(token, "token");
        return outputCounts[token];
    }

    /** Whether a {@link TokenMask} constrains the tokens (structured output). */
    public boolean masked() {
        return mask != null;
    }

    /**
     * The distinct tokens of the prompt and the output so far, in the order first seen: the only ones the penalties
     * change (by {@link #count(int)} for the frequency and presence penalties).
     */
    public int[] penalisedTokens() {
        return Arrays.copyOf(distinct, distinctCount);
    }

    /** Whether the request should end after {@code token} (a stop token id). */
    public boolean isStopToken(int token) {
        return params.isStopToken(token);
    }

    /** Records {@code token} as generated (appended to the sequence): it now counts for all three penalties. */
    public void accept(int token) {
        checkToken(token, "accepted token");
        markSeen(token);
        outputCounts[token]++;
        generated++;
        if (mask != null) mask.accept(token);
    }

    /**
     * Chooses the next token from {@code logits[0 .. vocabSize)} (the array is not modified; it may be longer).
     * Does not record the token: call {@link #accept(int)} with what is appended. Throws on NaN or +∞ logits, or
     * when every logit is -∞.
     */
    public int sample(float[] logits) {
        if (logits == null || logits.length < vocab) {
            throw new IllegalArgumentException("expected at least " + vocab + " logits, got "
                    + (logits == null ? "null" : logits.length));
        }
        System.arraycopy(logits, 0, work, 0, vocab);
        applyPenalties(work);
        if (mask != null) mask.apply(work, params.maxTokens() - generated);
        int top = checkedArgmax(work);
        int token;
        if (params.isGreedy()) {
            token = top;
        } else {
            filter(top);
            token = draw();
        }
        lastLogprobs = params.logprobs() >= 0 ? logprobs(logits, token) : null;
        return token;
    }

    /** Logprobs of the last {@link #sample(float[])}, or null when {@code params.logprobs() == -1}. */
    public Logprobs lastLogprobs() {
        return lastLogprobs;
    }

    /**
     * Applies the repetition, frequency and presence penalties to {@code logits[0 .. vocabSize)} in place, from the
     * prompt and the tokens accepted so far (what {@link #sample(float[])} does first).
     */
    public void applyPenalties(float[] logits) {
        float rep = (float) params.repetitionPenalty();
        float freq = (float) params.frequencyPenalty();
        float pres = (float) params.presencePenalty();
        boolean doRep = rep != 1f, doOut = freq != 0f || pres != 0f;
        if (!doRep && !doOut) return;
        for (int i = 0; i < distinctCount; i++) {
            int t = distinct[i];
            float l = logits[t];
            if (doRep) l = l > 0 ? l / rep : l * rep;
            int c = outputCounts[t];
            if (doOut && c > 0) {
                l -= freq * c;
                l -= pres;
            }
            logits[t] = l;
        }
    }

    /**
     * The tokens that could be drawn from {@code logits} now (after penalties, top-k, top-p and min-p), in id
     * order; for greedy, the argmax alone. Uses no randomness.
     */
    int[] keptTokens(float[] logits) {
        System.arraycopy(logits, 0, work, 0, vocab);
        applyPenalties(work);
        if (mask != null) mask.apply(work, params.maxTokens() - generated);
        int top = checkedArgmax(work);
        if (params.isGreedy()) return new int[] {top};
        filter(top);
        int[] kept = Arrays.copyOf(cand, keptCount);
        Arrays.sort(kept);
        return kept;
    }

    // ---- filtering and drawing ------------------------------------------------------------------------------

    /** Leaves the drawable tokens in {@code cand[0 .. keptCount)}, their unnormalised probabilities in weight[]. */
    private void filter(int top) {
        float max = work[top];
        float temp = (float) params.temperature();
        float perNat = PER_NAT / temp;
        double topP = params.topP();
        int k = params.topK();
        // temperature: weight = exp((l - max) / T) ∈ [0, 1], 1 for the most likely token; tokens whose weight
        // underflows to 0 (including -inf logits) can never be drawn and are never candidates
        int n = 0;
        double mass = 0;
        float pCut = Float.NEGATIVE_INFINITY;
        boolean dense = !(k > 0 && k < vocab);
        if (!dense) {
            float kCut = valueOf(cutKey(work, null, vocab, null, k, max, PER_NAT));
            for (int t = 0; t < vocab; t++) {
                if (work[t] >= kCut) {
                    float w = (float) Math.exp((work[t] - max) / temp);
                    if (w > 0) {
                        weight[t] = w;
                        cand[n++] = t;
                        mass += w;
                    }
                }
            }
            if (topP < 1) pCut = valueOf(cutKey(work, cand, n, weight, (topP - TOP_P_SLACK) * mass, max, perNat));
        } else {
            // the whole vocabulary: vectorised exp, candidates built in the same pass as the top-p and min-p cuts
            int t = 0;
            double total = 0;
            for (int bound = F.loopBound(vocab); t < bound; t += F.length()) {
                FloatVector w = FloatVector.fromArray(F, work, t).sub(max).div(temp).lanewise(VectorOperators.EXP);
                w.intoArray(weight, t);
                total += w.reduceLanes(VectorOperators.ADD);
            }
            for (; t < vocab; t++) total += weight[t] = (float) Math.exp((work[t] - max) / temp);
            if (topP < 1) pCut = valueOf(cutKey(work, null, vocab, weight, (topP - TOP_P_SLACK) * total, max, perNat));
            n = vocab;
        }
        // top-p and min-p (p_i >= minP * p_max  ⟺  w_i >= minP * w_max: the most likely token survives top-k and
        // top-p, and the ratio does not depend on their renormalisation)
        float minW = Math.max(Float.MIN_VALUE, (float) (params.minP() * weight[top]));
        int m = 0;
        mass = 0;
        for (int i = 0; i < n; i++) {
            int t = dense ? i : cand[i];
            float w = weight[t];
            if (w >= minW && work[t] >= pCut) {
                cand[m++] = t;
                mass += w;
            }
        }
        keptCount = m;
        keptMass = mass;
    }

    private int draw() {
        double u = random.nextDouble() * keptMass;
        double acc = 0;
        for (int i = 0; i < keptCount; i++) {
            acc += weight[cand[i]];
            if (acc > u) return cand[i];
        }
        return cand[keptCount - 1];
    }

    /**
     * Selection by weight: among the elements {@code values[ids[i]]} ({@code values[i]} when ids is null),
     * {@code i < n}, walking from the largest value down, the key of the value at which the running weight
     * ({@code w[t]}, or 1 each when w is null) reaches {@code target}. Every element with a key {@code >=} the
     * result is in (a group of equal values is all in or all out); {@link Integer#MIN_VALUE} (all in) if rounding
     * kept the total short of the target.
     *
     * <p>A histogram of the weight over {@code (max - value) · scale} in unit buckets ({@code scale} = 256 per nat,
     * over 64 nats; lower values share the last bucket) finds the bucket that holds the cut; only that bucket's
     * elements are then sorted. {@code max} must be the largest value.
     */
    private int cutKey(float[] values, int[] ids, int n, float[] w, double target, float max, float scale) {
        if (hist == null) hist = new double[HIST];
        double[] h = hist;
        Arrays.fill(h, 0);
        int[] bk = null;
        if (ids == null) {
            // the whole array: buckets computed once, vectorised, and kept for the collecting pass
            if (buckets == null) buckets = new int[vocab];
            bk = buckets;
            int t = 0;
            FloatVector top = FloatVector.broadcast(F, max);
            for (int bound = F.loopBound(n); t < bound; t += F.length()) {
                ((IntVector) top.sub(FloatVector.fromArray(F, values, t)).mul(scale).convert(VectorOperators.F2I, 0))
                        .min(HIST - 1).intoArray(bk, t);
            }
            for (; t < n; t++) bk[t] = bucket(values[t], max, scale);
            if (w == null) {
                for (t = 0; t < n; t++) h[bk[t]] += 1;
            } else {
                for (t = 0; t < n; t++) h[bk[t]] += w[t];
            }
        } else {
            for (int i = 0; i < n; i++) {
                int t = ids[i];
                h[bucket(values[t], max, scale)] += w == null ? 1 : w[t];
            }
        }
        double above = 0;
        int cut = -1;
        for (int b = 0; b < HIST; b++) {
            double x = h[b];
            if (x > 0) {
                if (above + x >= target) {
                    cut = b;
                    break;
                }
                above += x;
            }
        }
        if (cut < 0) return Integer.MIN_VALUE;
        if (sortKeys == null) sortKeys = new long[vocab];
        int m = 0;
        if (ids == null) {
            for (int t = 0; t < n; t++) if (bk[t] == cut) sortKeys[m++] = sortKey(values[t], t);
        } else {
            for (int i = 0; i < n; i++) {
                int t = ids[i];
                if (bucket(values[t], max, scale) == cut) sortKeys[m++] = sortKey(values[t], t);
            }
        }
        Arrays.sort(sortKeys, 0, m);
        for (int j = m - 1; j >= 0; j--) {
            int t = ~(int) sortKeys[j];
            double x = w == null ? 1 : w[t];
            if (above + x >= target) return (int) (sortKeys[j] >> 32);
            above += x;
        }
        return (int) (sortKeys[0] >> 32); // rounding: keep the whole bucket
    }

    /** Histogram bucket of {@code v}: non-increasing in v, 0 for the maximum. */
    private static int bucket(float v, float max, float scale) {
        return Math.min((int) ((max - v) * scale), HIST - 1);
    }

    /** The float whose {@link #key(float)} is {@code key}; -∞ for {@link Integer#MIN_VALUE} (keep everything). */
    static float valueOf(int key) {
        if (key == Integer.MIN_VALUE) return Float.NEGATIVE_INFINITY;
        return Float.intBitsToFloat(key ^ ((key >> 31) & 0x7fffffff));
    }

    /** A long whose order is (value ascending, id descending): read from the end, most likely first, lower id first. */
    private static long sortKey(float v, int t) {
        return ((long) key(v) << 32) | (~t & 0xffffffffL);
    }

    /** An int whose signed order is the float order of {@code v} (-0 and +0 equal; NaN excluded by the caller). */
    static int key(float v) {
        int bits = Float.floatToRawIntBits(v + 0.0f);
        return bits ^ ((bits >> 31) & 0x7fffffff);
    }

    // ---- logprobs -------------------------------------------------------------------------------------------

    private Logprobs logprobs(float[] logits, int token) {
        if (wide == null) wide = new double[vocab];
        double max = Double.NEGATIVE_INFINITY;
        for (int t = 0; t < vocab; t++) {
            double x = logits[t];
            wide[t] = x;
            max = Math.max(max, x);
        }
        DoubleVector acc = DoubleVector.zero(D);
        int i0 = 0;
        for (int bound = D.loopBound(vocab); i0 < bound; i0 += D.length()) {
            acc = acc.add(DoubleVector.fromArray(D, wide, i0).sub(max).lanewise(VectorOperators.EXP));
        }
        double sum = acc.reduceLanes(VectorOperators.ADD);
        for (; i0 < vocab; i0++) sum += Math.exp(wide[i0] - max);
        double lse = max + Math.log(sum);
        float chosen = logits[token];
        int rank = 0;
        for (int t = 0; t < vocab; t++) if (logits[t] >= chosen) rank++;
        int n = Math.min(params.logprobs(), vocab);
        List<TokenLogprob> top = List.of();
        if (n > 0) {
            int cut = cutKey(logits, null, vocab, null, n, (float) max, PER_NAT);
            int count = 0;
            for (int t = 0; t < vocab; t++) if (key(logits[t]) >= cut) count++;
            long[] keys = new long[count];
            int j = 0;
            for (int t = 0; t < vocab; t++) if (key(logits[t]) >= cut) keys[j++] = sortKey(logits[t], t);
            Arrays.sort(keys);
            List<TokenLogprob> list = new ArrayList<>(n);
            for (int i = count - 1; i >= count - n; i--) {
                int t = ~(int) keys[i];
                list.add(new TokenLogprob(t, logits[t] - lse));
            }
            top = List.copyOf(list);
        }
        return new Logprobs(token, chosen - lse, rank, top);
    }

    // ---- helpers --------------------------------------------------------------------------------------------

    /** The first index of the largest value; throws on NaN, +inf, or when all are -inf. */
    private int checkedArgmax(float[] v) {
        float max = Float.NEGATIVE_INFINITY;
        int best = -1;
        for (int t = 0; t < vocab; t++) {
            float x = v[t];
            if (!(x < Float.POSITIVE_INFINITY)) {
                throw new IllegalArgumentException((x != x ? "NaN" : "+infinity") + " logit at token " + t
                        + " (after penalties); the model output is broken");
            }
            if (x > max) {
                max = x;
                best = t;
            }
        }
        if (best < 0) throw new IllegalArgumentException("every logit is -infinity: no token can be sampled");
        return best;
    }

    private void markSeen(int t) {
        if (seen[t]) return;
        seen[t] = true;
        if (distinctCount == distinct.length) distinct = Arrays.copyOf(distinct, distinctCount * 2);
        distinct[distinctCount++] = t;
    }

    private void checkToken(int t, String what) {
        if (t < 0 || t >= vocab) {
            throw new IllegalArgumentException(what + " " + t + " is outside the vocabulary [0, " + vocab + ")");
        }
    }
}
