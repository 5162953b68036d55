package dev.nemoh.cuda;

import dev.nemoh.Fixtures;
import dev.nemoh.io.SafetensorsFile;
import dev.nemoh.kernels.Vec;
import dev.nemoh.model.LanguageModel.SequenceState;
import dev.nemoh.model.TimeStepClamp;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The cuda backend against transformers' NemotronHForCausalLM on the fixtures (as {@code ForwardFixtureTest} checks
 * the CPU model). Weights are bf16 and accumulation float32 everywhere; prompts (more than 2 rows) multiply with
 * bf16-rounded activations on cuBLAS and attend on TF32 tensor cores, and the KV cache is bf16, so logits agree to
 * bf16 precision, not to the CPU model's 1e-5: README's bound, relative error {@value #REL} (measured on the H100,
 * 2026-11-23: 5.2e-3 to 7.5e-3 over the prompt logits, greedy step logits, prefill against steps and batches of 3).
 * Decode steps of one or two sequences keep float32 activations.
 */
class CudaForwardFixtureTest {
    static final double REL = 1e-2;
    /**
     * A reference top-two logit gap below which bf16 error may flip the greedy choice, for free-running decoding: on
     * the H100, moe-tiny's step-1 gap of 8e-4 flipped, while gaps of 0.018 (nemotron-h-tiny, step 0) and 0.024
     * (nano-v2-tiny, step 2) held.
     */
    static final double NEAR_TIE = 0.01;
    /**
     * A reference top-two logit gap that bf16 error cannot close: the largest max-abs logit error measured on these
     * fixtures is 0.039, so a gap over 0.1 must give the reference's token. moe-tiny's greedy step 1 has a gap of
     * 8e-4: there either token is right at bf16 precision (the CPU backend, in float32, matches it exactly).
     */
    static final double CLEAR_MARGIN = 0.1;

    @BeforeAll
    static void gpu() {
        TestDevice.cuda();
    }

    @ParameterizedTest
    @ValueSource(strings = {"nemotron-h-tiny", "nano-v2-tiny", "moe-tiny"})
    void promptLogitsMatchFloat64Reference(String fixture) {
        try (CudaModel model = CudaModel.load(Fixtures.model(fixture));
             SafetensorsFile ref = Fixtures.reference(fixture)) {
            int[] ids = Fixtures.ids(ref.get("input_ids"));
            float[] logits = model.forward(ids, model.newState());
            double[] expected = ref.get("logits_f64").toDoubleArray();
            double maxAbs = Fixtures.maxAbs(logits, expected);
            double rel = Fixtures.relative(logits, expected);
            System.out.printf("cuda %s prompt logits: max abs %.3g, rel %.3g%n", fixture, maxAbs, rel);
            assertTrue(rel < REL, fixture + " logits relative error " + rel);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"nemotron-h-tiny", "nano-v2-tiny", "moe-tiny"})
    void greedyDecodingThroughCacheMatches(String fixture) {
        try (CudaModel model = CudaModel.load(Fixtures.model(fixture));
             SafetensorsFile ref = Fixtures.reference(fixture)) {
            int[] prompt = Fixtures.ids(ref.get("input_ids"));
            int[] expectedTokens = Fixtures.ids(ref.get("greedy_tokens"));
            float[] expectedStepLogits = ref.get("greedy_step_logits").toFloatArray();
            int vocab = model.config().vocabSize;
            SequenceState state = model.newState();
            float[] logits = model.forwardLast(prompt, state);
            double worst = 0;
            StringBuilder nearTies = new StringBuilder();
            for (int i = 0; i < expectedTokens.length; i++) {
                double[] expectedRow = Fixtures.widen(Arrays.copyOfRange(expectedStepLogits, i * vocab, (i + 1) * vocab));
                worst = Math.max(worst, Fixtures.relative(logits, expectedRow));
                int token = Vec.argmax(logits, 0, vocab);
                double margin = topTwoGap(expectedRow);
                if (margin > CLEAR_MARGIN) {
                    assertTrue(token == expectedTokens[i], fixture + " step " + i + ": token " + token + ", expected "
                            + expectedTokens[i] + " (reference margin " + margin + ")");
                } else if (token != expectedTokens[i]) {
                    nearTies.append(String.format(" step %d (margin %.2g)", i, margin));
                }
                // the reference's token goes in, so one near-tie cannot derail the steps after it
                logits = model.forwardLast(new int[] {expectedTokens[i]}, state);
            }
            System.out.printf("cuda %s greedy: worst step logits rel %.3g, tokens equal%s%n", fixture, worst,
                    nearTies.isEmpty() ? "" : " but at near-ties:" + nearTies);
            assertTrue(worst < REL, fixture + " step logits relative error " + worst);
        }
    }

    /**
     * Greedy decoding left to itself, each step fed the model's own previous token as in real generation, gives the
     * reference's {@code greedy_tokens} up to the first step whose reference top-two logit gap is below
     * {@value #NEAR_TIE}, where the comparison stops: from a near-tie on, bf16 rounding may pick the other token and
     * the two texts part for good. Up to that step the model and the reference decode the same sequence, so the
     * reference's step logits are the ones to measure the gap on. At least the first token is compared.
     */
    @ParameterizedTest
    @ValueSource(strings = {"nemotron-h-tiny", "nano-v2-tiny", "moe-tiny"})
    void freeRunningGreedyTokensMatchUpToTheFirstNearTie(String fixture) {
        try (CudaModel model = CudaModel.load(Fixtures.model(fixture));
             SafetensorsFile ref = Fixtures.reference(fixture)) {
            int[] prompt = Fixtures.ids(ref.get("input_ids"));
            int[] expectedTokens = Fixtures.ids(ref.get("greedy_tokens"));
            float[] expectedStepLogits = ref.get("greedy_step_logits").toFloatArray();
            int vocab = model.config().vocabSize;
            SequenceState state = model.newState();
            float[] logits = model.forwardLast(prompt, state);
            int compared = 0;
            String stop = "all " + expectedTokens.length + " compared";
            for (int i = 0; i < expectedTokens.length; i++) {
                double margin = topTwoGap(Fixtures.widen(Arrays.copyOfRange(expectedStepLogits, i * vocab, (i + 1) * vocab)));
                if (margin < NEAR_TIE) {
                    stop = String.format("stopped at step %d (reference gap %.2g)", i, margin);
                    break;
                }
                int token = Vec.argmax(logits, 0, vocab);
                assertTrue(token == expectedTokens[i], fixture + " free-running step " + i + ": token " + token
                        + ", reference " + expectedTokens[i] + " (reference gap " + margin + ")");
                compared++;
                logits = model.forwardLast(new int[] {token}, state); // the model's own token
            }
            System.out.printf("cuda %s free-running greedy: %d tokens equal, %s%n", fixture, compared, stop);
            assertTrue(compared >= 1, fixture + ": the first reference step is a near-tie, nothing was compared");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"nemotron-h-tiny", "nano-v2-tiny", "moe-tiny"})
    void chunkedScanPrefillEqualsRecurrentSteps(String fixture) {
        // with one dt clamp rule in both paths, the SSD scan and the recurrence compute the same function
        try (CudaModel model = CudaModel.load(Fixtures.model(fixture), TimeStepClamp.EVERYWHERE, null);
             SafetensorsFile ref = Fixtures.reference(fixture)) {
            int[] prompt = Fixtures.ids(ref.get("input_ids"));
            float[] prefill = model.forwardLast(prompt, model.newState());
            SequenceState stepped = model.newState();
            float[] step = null;
            for (int id : prompt) step = model.forwardLast(new int[] {id}, stepped);
            double rel = Fixtures.relative(prefill, Fixtures.widen(step));
            System.out.printf("cuda %s prefill vs token-by-token last logits: rel %.3g%n", fixture, rel);
            assertTrue(rel < REL, fixture + " prefill and recurrent steps differ by " + rel);
        }
    }

    @Test
    void decodeAfterLongPromptMatchesPrefill() {
        // 1,000 cached keys spread over the decode kernel's splits and lane groups; the prefill attends through cuBLAS
        try (CudaModel model = CudaModel.load(Fixtures.model("nemotron-h-tiny"), TimeStepClamp.EVERYWHERE, null)) {
            int vocab = model.config().vocabSize;
            int[] ids = new java.util.SplittableRandom(5).ints(1000, 0, vocab).toArray();
            float[] all = model.forward(ids, model.newState());
            SequenceState state = model.newState();
            model.forwardLast(Arrays.copyOf(ids, ids.length - 1), state);
            float[] step = model.forwardLast(new int[] {ids[ids.length - 1]}, state);
            double rel = Fixtures.relative(step, Fixtures.widen(Arrays.copyOfRange(all, (ids.length - 1) * vocab, ids.length * vocab)));
            System.out.printf("cuda decode after 999 tokens vs prefill: rel %.3g%n", rel);
            assertTrue(rel < REL, "decode step after a long prompt differs from the prefill by " + rel);
        }
    }

    /**
     * A batch of 2 runs the same GEMV as a single sequence, so its rows must equal single steps exactly; a batch of
     * 3 goes to cuBLAS with bf16-rounded activations, so it agrees to {@value #REL}. moe-tiny's routed experts run
     * one GEMV per (sequence, slot) at any batch size, its router in float32, and its shared expert as a linear.
     */
    @ParameterizedTest
    @CsvSource({"nemotron-h-tiny, 2", "nemotron-h-tiny, 3", "moe-tiny, 2", "moe-tiny, 3"})
    void batchedDecodeRowsMatchSingleSequenceSteps(String fixture, int sequences) {
        try (CudaModel model = CudaModel.load(Fixtures.model(fixture))) {
            int vocab = model.config().vocabSize;
            int[][] prompts = Arrays.copyOf(new int[][] {{5, 17, 42, 9, 100, 3, 8, 11, 12, 13}, {7}, {1, 2, 3}}, sequences);
            int[] next = Arrays.copyOf(new int[] {33, 44, 55}, sequences);
            SequenceState[] batch = new SequenceState[sequences];
            float[] single = new float[sequences * vocab];
            for (int b = 0; b < sequences; b++) {
                batch[b] = model.newState();
                model.forwardLast(prompts[b], batch[b]);
                SequenceState alone = model.newState();
                model.forwardLast(prompts[b], alone);
                System.arraycopy(model.forwardLast(new int[] {next[b]}, alone), 0, single, b * vocab, vocab);
            }
            float[] batched = model.decodeBatch(next, batch);
            double err = Fixtures.maxAbs(batched, Fixtures.widen(single)), rel = Fixtures.relative(batched, Fixtures.widen(single));
            System.out.printf("cuda %s batched (%d) vs single decode: max abs %.3g, rel %.3g%n", fixture, sequences, err, rel);
            if (sequences <= CudaLinear.GEMV_MAX_ROWS) {
                assertTrue(err < 1e-4, "batched decode rows differ from single steps by " + err);
            } else {
                assertTrue(rel < REL, "batched decode rows differ from single steps by rel " + rel);
            }
        }
    }

    /**
     * The first batched step captures a CUDA graph and the next ones replay it (as single-sequence steps replay
     * theirs): several steps must keep matching the same sequences stepped alone, as one step does (a batch of 3 goes
     * through cuBLAS, whose products the graph then holds).
     */
    @ParameterizedTest
    @CsvSource({"nemotron-h-tiny, 2", "nemotron-h-tiny, 3", "moe-tiny, 2", "moe-tiny, 3"})
    void batchedStepsReplayingTheirGraphMatchSingleSequenceSteps(String fixture, int sequences) {
        try (CudaModel model = CudaModel.load(Fixtures.model(fixture))) {
            int vocab = model.config().vocabSize;
            int[][] prompts = Arrays.copyOf(new int[][] {{5, 17, 42, 9, 100, 3, 8, 11, 12, 13}, {7, 1}, {1, 2, 3}}, sequences);
            SequenceState[] batch = new SequenceState[sequences], alone = new SequenceState[sequences];
            for (int b = 0; b < sequences; b++) {
                batch[b] = model.newState();
                alone[b] = model.newState();
                model.forwardLast(prompts[b], batch[b]);
                model.forwardLast(prompts[b], alone[b]);
            }
            double worstAbs = 0, worstRel = 0;
            for (int step = 0; step < 4; step++) {
                int[] next = new int[sequences];
                for (int b = 0; b < sequences; b++) next[b] = (31 * step + 17 * b + 33) % vocab;
                float[] batched = model.decodeBatch(next, batch);
                for (int b = 0; b < sequences; b++) {
                    double[] single = Fixtures.widen(model.forwardLast(new int[] {next[b]}, alone[b]));
                    float[] row = Arrays.copyOfRange(batched, b * vocab, (b + 1) * vocab);
                    worstAbs = Math.max(worstAbs, Fixtures.maxAbs(row, single));
                    worstRel = Math.max(worstRel, Fixtures.relative(row, single));
                }
            }
            System.out.printf("cuda %s 4 batched (%d) steps vs single steps: max abs %.3g, rel %.3g%n", fixture, sequences,
                    worstAbs, worstRel);
            if (sequences <= CudaLinear.GEMV_MAX_ROWS) {
                assertTrue(worstAbs < 1e-4, "replayed batched steps differ from single steps by " + worstAbs);
            } else {
                assertTrue(worstRel < REL, "replayed batched steps differ from single steps by rel " + worstRel);
            }
        }
    }

    private static double topTwoGap(double[] row) {
        double best = Double.NEGATIVE_INFINITY, second = Double.NEGATIVE_INFINITY;
        for (double v : row) {
            if (v > best) {
                second = best;
                best = v;
            } else if (v > second) {
                second = v;
            }
        }
        return best - second;
    }
}
