package dev.nemoh.cuda;

import dev.nemoh.export.RandomWeights;
import dev.nemoh.generate.BatchDecoder;
import dev.nemoh.generate.Generation;
import dev.nemoh.generate.Sampler;
import dev.nemoh.generate.SamplingParams;
import dev.nemoh.model.LanguageModel;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Sampling on the GPU (sample.cu through {@link CudaSampler}) against the CPU: greedy picks equal the CPU sampler's
 * argmax, draws follow the distribution each filter setting defines (a chi-square goodness-of-fit test), a seed gives
 * the same picks every time and a row's picks do not depend on the rows beside it.
 */
class CudaSamplerTest {
    /** Draws per filter setting for the chi-square test: 100,000 on a GPU, 10,000 on the emulator. */
    static int draws() {
        return TestDevice.emulated() ? 10_000 : 100_000;
    }
    /** A setting fails when its chi-square p-value is below this: with six settings, a false alarm about 1 in 1,700. */
    static final double P_MIN = 1e-4;
    /** A small vocabulary, so that 100,000 draws run in seconds on the emulator; ties and a -inf logit included. */
    static final float[] LOGITS = {2.0f, 1.5f, 1.5f, 1.0f, 0.5f, 0.2f, 0f, -0.3f, -1f, -2f, -4f, Float.NEGATIVE_INFINITY};
    static final int[] PROMPT = {0, 3, 7};
    static final int[] ACCEPTED = {1, 1, 5};

    static Cuda cuda;
    static CudaSampler sampler;

    @BeforeAll
    static void gpu() {
        cuda = TestDevice.cuda();
        cuda.makeCurrent();
        sampler = new CudaSampler(new CudaDevice(cuda));
    }

    /** The picks of rows of logits [rows, vocab] made on the device. */
    static int[] pick(float[] logits, int vocab, Sampler[] samplers) {
        long dev = cuda.alloc(GpuMemory.Part.WORKSPACE, 4L * logits.length);
        try {
            cuda.upload(dev, logits);
            return cuda.downloadInts(sampler.launch(dev, vocab, samplers), samplers.length);
        } finally {
            cuda.free(dev);
        }
    }

    static Sampler sampler(SamplingParams p, int vocab, int[] prompt, int... accepted) {
        Sampler s = new Sampler(p, vocab, prompt);
        for (int t : accepted) s.accept(t);
        return s;
    }

    @Test
    void greedyPicksAreTheCpuSamplersArgmax() {
        int vocab = 3000, rows = 24;
        SplittableRandom r = new SplittableRandom(11);
        float[] logits = new float[rows * vocab];
        for (int i = 0; i < logits.length; i++) logits[i] = (float) (r.nextGaussian() * 3);
        Sampler[] samplers = new Sampler[rows];
        for (int b = 0; b < rows; b++) {
            if (b % 3 == 0) { // a tie at the top: the lower id wins
                logits[b * vocab + 2500] = 50;
                logits[b * vocab + 1200] = 50;
            }
            SamplingParams p = SamplingParams.greedy();
            if (b % 2 == 1) p = p.withRepetitionPenalty(1.8).withFrequencyPenalty(1.5).withPresencePenalty(0.5);
            int[] prompt = r.ints(30, 0, vocab).toArray();
            samplers[b] = sampler(p, vocab, prompt, r.ints(5, 0, vocab).toArray());
        }
        int[] expected = new int[rows];
        for (int b = 0; b < rows; b++) expected[b] = samplers[b].sample(Arrays.copyOfRange(logits, b * vocab, (b + 1) * vocab));
        assertArrayEquals(expected, pick(logits, vocab, samplers));
        assertEquals(1200, expected[0]);
    }

    @Test
    void drawsFollowTheCpuSamplersDistribution() {
        Map<String, SamplingParams> settings = new LinkedHashMap<>();
        SamplingParams base = SamplingParams.defaults();
        settings.put("temperature 0.7", base.withTemperature(0.7));
        settings.put("top-k 2 (a tie at the cut keeps 3)", base.withTopK(2));
        settings.put("top-p 0.8", base.withTopP(0.8));
        settings.put("min-p 0.15", base.withMinP(0.15));
        settings.put("penalties (repetition 1.5, presence 0.5, frequency 0.3)",
                base.withRepetitionPenalty(1.5).withPresencePenalty(0.5).withFrequencyPenalty(0.3));
        settings.put("all (T 1.3, top-k 8, top-p 0.9, min-p 0.05, repetition 1.2)", base.withTemperature(1.3)
                .withTopK(8).withTopP(0.9).withMinP(0.05).withRepetitionPenalty(1.2));
        int v = LOGITS.length, chunk = 1000, draws = draws(); // a CPU sampler holds a 128 KiB histogram: a thousand at a time
        float[] logits = new float[chunk * v];
        for (int b = 0; b < chunk; b++) System.arraycopy(LOGITS, 0, logits, b * v, v);
        for (var e : settings.entrySet()) {
            long[] seen = new long[v];
            for (int from = 0; from < draws; from += chunk) {
                Sampler[] samplers = new Sampler[chunk];
                for (int b = 0; b < chunk; b++) samplers[b] = sampler(e.getValue().withSeed((long) from + b), v, PROMPT, ACCEPTED);
                for (int t : pick(logits, v, samplers)) seen[t]++;
            }
            double[] expected = reference(LOGITS, e.getValue(), PROMPT, ACCEPTED);
            double chi2 = 0;
            int bins = 0;
            for (int t = 0; t < v; t++) {
                if (expected[t] == 0) {
                    assertEquals(0, seen[t], e.getKey() + ": token " + t + " was drawn but cannot be");
                    continue;
                }
                double want = expected[t] * draws;
                chi2 += (seen[t] - want) * (seen[t] - want) / want;
                bins++;
            }
            double p = chiSquarePValue(chi2, bins - 1);
            System.out.printf("gpu sampling %s: %d draws, %d tokens kept, chi2 %.2f, p %.3f%n", e.getKey(), draws, bins, chi2, p);
            assertTrue(p >= P_MIN, e.getKey() + ": chi-square " + chi2 + " with " + (bins - 1) + " dof, p " + p);
        }
    }

    @Test
    void aSeedGivesTheSamePicksAloneOrBesideOtherRows() {
        int v = LOGITS.length, n = 200;
        SamplingParams p = SamplingParams.defaults().withTopP(0.95).withRepetitionPenalty(1.1);
        float[] alone = new float[n * v];
        for (int b = 0; b < n; b++) System.arraycopy(LOGITS, 0, alone, b * v, v);
        Sampler[] samplers = new Sampler[n];
        for (int b = 0; b < n; b++) samplers[b] = sampler(p.withSeed(1000L + b), v, PROMPT, ACCEPTED);
        int[] first = pick(alone, v, samplers);
        assertArrayEquals(first, pick(alone, v, samplers));
        // each row again with different neighbours: other logits, other settings, a greedy row, a host row
        SplittableRandom r = new SplittableRandom(5);
        for (int b = 0; b < n; b += 37) {
            float[] batch = new float[4 * v];
            for (int i = 0; i < batch.length; i++) batch[i] = (float) r.nextGaussian();
            System.arraycopy(LOGITS, 0, batch, 2 * v, v);
            Sampler[] mixed = {sampler(SamplingParams.greedy(), v, new int[0]), sampler(p.withSeed(9L).withTopK(2), v, PROMPT),
                    samplers[b], sampler(SamplingParams.defaults().withLogprobs(2), v, new int[0])};
            assertEquals(first[b], pick(batch, v, mixed)[2], "row " + b);
        }
        // the draws vary with the seed
        assertTrue(Arrays.stream(first).distinct().count() > 3);
    }

    @Test
    void brokenLogitsAreReported() {
        float[] logits = LOGITS.clone();
        logits[4] = Float.NaN;
        assertEquals(-1, pick(logits, logits.length, new Sampler[] {sampler(SamplingParams.defaults(), logits.length, new int[0])})[0]);
    }

    /**
     * A model's seeded sampled (and penalised) generation, through {@link CudaModel#start}: the same tokens run alone,
     * again, and in a batch of two with a greedy request; and in a batch of four its tokens do not depend on the other
     * rows (greedy, logprobs picked on the host, penalised, or copies of itself). Batches of more than two round
     * activations to bf16 for cuBLAS, which moves the logits themselves (README, Server), so a batch of four is
     * compared with another batch of four.
     */
    @Test
    void aRequestsTokensDoNotDependOnItsBatch(@TempDir Path tmp) {
        RandomWeights.write(CudaRandomModelTest.SHAPE, tmp, 5);
        SamplingParams seeded = SamplingParams.defaults().withSeed(77L).withTopK(50).withTopP(0.9).withMaxTokens(12)
                .withPresencePenalty(1.5).withRepetitionPenalty(1.3);
        int[] prompt = {5, 17, 300, 2, 41};
        try (CudaModel model = CudaModel.load(tmp)) {
            List<Integer> alone = decode(model, List.of(seeded), prompt).getFirst();
            assertEquals(alone, decode(model, List.of(seeded), prompt).getFirst(), "the same seed twice");
            SamplingParams greedy = SamplingParams.greedy().withMaxTokens(12);
            assertEquals(alone, decode(model, List.of(greedy, seeded), prompt).get(1), "beside a greedy request");
            List<List<Integer>> batched = decode(model, List.of(greedy, seeded,
                    SamplingParams.defaults().withSeed(3L).withLogprobs(1).withMaxTokens(12),
                    SamplingParams.defaults().withSeed(4L).withPresencePenalty(1).withMaxTokens(12)), prompt);
            assertEquals(decode(model, List.of(seeded, seeded, seeded, seeded), prompt).get(3), batched.get(1));
            System.out.println("seeded request alone: " + alone + "; in a batch of 4: " + batched.get(1));
        }
    }

    /** Generates every request to its max tokens with the model's batch decoder, as the server's scheduler does. */
    static List<List<Integer>> decode(CudaModel model, List<SamplingParams> params, int[] prompt) {
        List<Generation> gens = new ArrayList<>();
        List<List<Integer>> tokens = new ArrayList<>();
        for (SamplingParams p : params) {
            Generation g = new Generation(model, prompt, p);
            tokens.add(new ArrayList<>(List.of(g.choose())));
            gens.add(g);
        }
        BatchDecoder decoder = model;
        while (!gens.getFirst().done()) {
            int n = gens.size();
            int[] ids = new int[n];
            LanguageModel.SequenceState[] states = new LanguageModel.SequenceState[n];
            Sampler[] samplers = new Sampler[n];
            for (int b = 0; b < n; b++) {
                ids[b] = gens.get(b).pendingToken();
                states[b] = gens.get(b).state();
                samplers[b] = gens.get(b).sampler();
            }
            BatchDecoder.Picks picks = decoder.start(ids, states, samplers).finish();
            for (int b = 0; b < n; b++) {
                Generation g = gens.get(b);
                if (picks.tokens()[b] >= 0) g.acceptPicked(picks.tokens()[b]);
                else g.acceptLogits(picks.logits()[b]);
                tokens.get(b).add(g.choose());
            }
        }
        return tokens;
    }

    @Test
    void mismatchedSamplersAreRefused(@TempDir Path tmp) {
        RandomWeights.write(CudaRandomModelTest.SHAPE, tmp, 5);
        try (CudaModel model = CudaModel.load(tmp)) {
            var e = assertThrows(IllegalArgumentException.class, () -> model.start(new int[] {1, 2},
                    new LanguageModel.SequenceState[] {model.newState(), model.newState()}, new Sampler[1]));
            assertEquals("1 samplers for 2 sequences", e.getMessage());
        }
    }

    /**
     * The distribution the CPU sampler's documentation defines, computed here from scratch: penalties over the
     * prompt and the accepted tokens, weights exp((l - max) / T) in float32, then top-k (ties kept), top-p (the most
     * likely until their mass reaches top-p, ties kept), min-p, normalised.
     */
    static double[] reference(float[] logits, SamplingParams p, int[] prompt, int[] accepted) {
        int v = logits.length;
        float[] l = logits.clone();
        int[] count = new int[v];
        boolean[] seen = new boolean[v];
        for (int t : prompt) seen[t] = true;
        for (int t : accepted) {
            seen[t] = true;
            count[t]++;
        }
        float rep = (float) p.repetitionPenalty(), freq = (float) p.frequencyPenalty(), pres = (float) p.presencePenalty();
        for (int t = 0; t < v; t++) {
            if (!seen[t]) continue;
            if (rep != 1f) l[t] = l[t] > 0 ? l[t] / rep : l[t] * rep;
            if (count[t] > 0) l[t] = l[t] - freq * count[t] - pres;
        }
        float max = Float.NEGATIVE_INFINITY;
        for (float x : l) max = Math.max(max, x);
        float[] w = new float[v];
        for (int t = 0; t < v; t++) w[t] = (float) Math.exp((l[t] - max) / (float) p.temperature());
        float[] sorted = l.clone();
        Arrays.sort(sorted);
        float kCut = p.topK() > 0 && p.topK() < v ? sorted[v - p.topK()] : Float.NEGATIVE_INFINITY;
        double mass = 0;
        for (int t = 0; t < v; t++) if (l[t] >= kCut) mass += w[t];
        float pCut = Float.NEGATIVE_INFINITY;
        if (p.topP() < 1) {
            double acc = 0;
            for (int i = v - 1; i >= 0; i--) {
                if (i < v - 1 && sorted[i] == sorted[i + 1]) continue; // each value once, with all its tokens
                for (int t = 0; t < v; t++) if (l[t] == sorted[i] && l[t] >= kCut) acc += w[t];
                if (acc >= (p.topP() - 1e-6) * mass) {
                    pCut = sorted[i];
                    break;
                }
            }
        }
        double[] prob = new double[v];
        double total = 0;
        for (int t = 0; t < v; t++) {
            if (w[t] > 0 && l[t] >= kCut && l[t] >= pCut && w[t] >= (float) p.minP()) total += prob[t] = w[t];
        }
        for (int t = 0; t < v; t++) prob[t] /= total;
        return prob;
    }

    /** P(X >= chi2) for X chi-square with {@code dof} degrees of freedom (Wilson–Hilferty's normal approximation). */
    static double chiSquarePValue(double chi2, int dof) {
        if (dof <= 0) return 1;
        double k = dof, z = (Math.cbrt(chi2 / k) - (1 - 2 / (9 * k))) / Math.sqrt(2 / (9 * k));
        return 0.5 * erfc(z / Math.sqrt(2));
    }

    /** Complementary error function (Numerical Recipes' erfcc, relative error below 1.2e-7). */
    static double erfc(double x) {
        double z = Math.abs(x), t = 1 / (1 + 0.5 * z);
        double r = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418
                + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851499
                + t * (-0.82215223 + t * 0.17087277)))))))));
        return x >= 0 ? r : 2 - r;
    }
}
