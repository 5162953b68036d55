package dev.nemoh.train.data;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Sequence packing: examples laid end to end and cut into rows of a fixed length (the last row may be shorter), so
 * no compute goes to padding. As in Hugging Face's packing without position resets, an example sees the state left
 * by the one before it in its row — the Mamba SSM and conv state run on across the boundary and attention reaches
 * back over it — and an example may continue in the next row. No loss crosses a boundary as long as each example
 * starts with prompt tokens (label -100: a chat template's header, an input's BOS or text), so the last token of
 * one does not have to predict the first of the next.
 */
public final class Packing {
    private Packing() {}

    public static List<SftExample> pack(List<SftExample> examples, int rowLength) {
        int total = examples.stream().mapToInt(SftExample::length).sum();
        int[] ids = new int[total], labels = new int[total];
        int at = 0;
        for (SftExample e : examples) {
            System.arraycopy(e.ids(), 0, ids, at, e.length());
            System.arraycopy(e.labels(), 0, labels, at, e.length());
            at += e.length();
        }
        List<SftExample> rows = new ArrayList<>();
        for (int from = 0; from < total; from += rowLength) {
            int to = Math.min(total, from + rowLength);
            SftExample row = new SftExample(Arrays.copyOfRange(ids, from, to), Arrays.copyOfRange(labels, from, to));
            if (row.targets() > 0) rows.add(row);
        }
        return List.copyOf(rows);
    }
}
