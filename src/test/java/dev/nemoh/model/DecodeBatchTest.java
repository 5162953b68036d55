package dev.nemoh.model;

import dev.nemoh.Fixtures;
import dev.nemoh.Tolerance;
import dev.nemoh.model.LanguageModel.SequenceState;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.Arrays;
import java.util.Map;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A batched decode step gives every sequence the logits it would get decoding alone, within about ten times the
 * difference measured per fixture ({@link Tolerance}).
 */
class DecodeBatchTest {
    /** Max abs difference of a batch of three rows from the same sequences decoded alone. */
    static final Map<String, Double> BATCH_ROWS = Tolerance.measured("nemotron-h-tiny", 0.0, "nano-v2-tiny", 0.0, "moe-tiny", 0.0);
    /** The same over six steps of changing batches of eleven sequences. */
    static final Map<String, Double> CHANGING_BATCHES = Tolerance.measured("nemotron-h-tiny", 0.0, "nano-v2-tiny", 0.0, "moe-tiny", 0.0);

    static String[] models() {
        return Fixtures.ALL;
    }

    @ParameterizedTest
    @MethodSource("models")
    void batchRowsEqualSingleSequenceDecode(String name) {
        try (NemotronHModel m = NemotronHModel.load(Fixtures.model(name))) {
            int v = m.config().vocabSize;
            int[][] prompts = {{1, 5, 9, 2, 7}, {3}, {8, 8, 4, 6, 1, 2, 9, 11, 3, 5, 7}};
            int[] next = {4, 10, 12};
            SequenceState[] batch = new SequenceState[prompts.length];
            float[][] alone = new float[prompts.length][];
            for (int b = 0; b < prompts.length; b++) {
                batch[b] = m.newState();
                m.forwardLast(prompts[b], batch[b]);
                SequenceState solo = m.newState();
                m.forwardLast(prompts[b], solo);
                alone[b] = m.forwardLast(new int[] {next[b]}, solo);
            }
            float[] logits = m.decodeBatch(next, batch);
            assertEquals(prompts.length * v, logits.length);
            double worst = 0;
            for (int b = 0; b < prompts.length; b++) {
                float[] row = Arrays.copyOfRange(logits, b * v, (b + 1) * v);
                worst = Math.max(worst, Fixtures.maxAbs(row, alone[b]));
                assertEquals(prompts[b].length + 1, batch[b].length());
            }
            Tolerance.check(name + " BATCH_ROWS", worst, Tolerance.of(BATCH_ROWS, name));
        }
    }

    /**
     * Eleven sequences of 1 to 53 prompt tokens (across the fixtures' chunk size of 16) decode six steps; the batch
     * changes every step, as in a server where sequences join and leave between steps (at step s, sequences with
     * index ≡ s mod 3 sit out). Every row must match the same sequence decoded alone, token for token.
     */
    @ParameterizedTest
    @MethodSource("models")
    void changingBatchesOfDifferentLengthsMatchDecodingAlone(String name) {
        try (NemotronHModel m = NemotronHModel.load(Fixtures.model(name))) {
            int v = m.config().vocabSize;
            SplittableRandom r = new SplittableRandom(7);
            int n = 11;
            SequenceState[] batched = new SequenceState[n], alone = new SequenceState[n];
            for (int b = 0; b < n; b++) {
                int[] prompt = r.ints(1 + b * 52 / (n - 1), 3, v).toArray();
                batched[b] = m.newState();
                alone[b] = m.newState();
                m.forwardLast(prompt, batched[b]);
                m.forwardLast(prompt, alone[b]);
            }
            double worst = 0;
            for (int step = 0; step < 6; step++) {
                int s = step;
                int[] members = java.util.stream.IntStream.range(0, n).filter(b -> b % 3 != s % 3).toArray();
                int[] tokens = new int[members.length];
                SequenceState[] states = new SequenceState[members.length];
                for (int i = 0; i < members.length; i++) {
                    tokens[i] = r.nextInt(3, v);
                    states[i] = batched[members[i]];
                }
                float[] logits = m.decodeBatch(tokens, states);
                for (int i = 0; i < members.length; i++) {
                    float[] expected = m.forwardLast(new int[] {tokens[i]}, alone[members[i]]);
                    float[] row = Arrays.copyOfRange(logits, i * v, (i + 1) * v);
                    worst = Math.max(worst, Fixtures.maxAbs(row, expected));
                    assertEquals(alone[members[i]].length(), states[i].length());
                }
            }
            Tolerance.check(name + " CHANGING_BATCHES", worst, Tolerance.of(CHANGING_BATCHES, name));
        }
    }

    @Test
    void aStateTwiceInOneBatchIsRejected() {
        try (NemotronHModel m = NemotronHModel.load(Fixtures.model("nemotron-h-tiny"))) {
            SequenceState s = m.newState();
            m.forwardLast(new int[] {1, 2}, s);
            var e = assertThrows(IllegalArgumentException.class, () -> m.decodeBatch(new int[] {3, 4}, new SequenceState[] {s, s}));
            assertTrue(e.getMessage().contains("already in this batch"), e.getMessage());
        }
    }
}
