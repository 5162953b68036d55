package dev.nemoh.train.data;

import java.util.Arrays;
import java.util.List;

/**
 * Rows that go through the model in one forward/backward, padded on the right to the longest (pad id 0, label
 * -100: a causal model's earlier positions never see the padding, and no loss is taken on it).
 */
public record MicroBatch(int[][] ids, int[][] labels, int tokens, int targets) {
    public static MicroBatch of(List<SftExample> rows) {
        int width = rows.stream().mapToInt(SftExample::length).max().orElse(0);
        int[][] ids = new int[rows.size()][];
        int[][] labels = new int[rows.size()][];
        int tokens = 0, targets = 0;
        for (int r = 0; r < rows.size(); r++) {
            SftExample e = rows.get(r);
            ids[r] = Arrays.copyOf(e.ids(), width);
            labels[r] = Arrays.copyOf(e.labels(), width);
            Arrays.fill(labels[r], e.length(), width, SftExample.IGNORE);
            tokens += e.length();
            targets += e.targets();
        }
        return new MicroBatch(ids, labels, tokens, targets);
    }
}
