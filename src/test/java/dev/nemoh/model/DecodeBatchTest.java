package dev.nemoh.model;

import dev.nemoh.Fixtures;
import dev.nemoh.model.LanguageModel.SequenceState;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** A batched decode step gives every sequence the logits it would get decoding alone. */
class DecodeBatchTest {
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
            for (int b = 0; b < prompts.length; b++) {
                float[] row = Arrays.copyOfRange(logits, b * v, (b + 1) * v);
                assertArrayEquals(alone[b], row, 1e-5f, "sequence " + b);
                assertEquals(prompts[b].length + 1, batch[b].length());
            }
        }
    }
}
