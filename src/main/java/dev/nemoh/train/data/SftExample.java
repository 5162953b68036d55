package dev.nemoh.train.data;

/**
 * One training sequence: token ids and their labels, -100 where no loss is taken (prompts, padding). As in
 * transformers the model shifts: position t's logits are scored against {@code labels[t + 1]}.
 */
public record SftExample(int[] ids, int[] labels) {
    public static final int IGNORE = -100;

    public SftExample {
        if (ids.length != labels.length) {
            throw new IllegalArgumentException(ids.length + " ids but " + labels.length + " labels");
        }
    }

    public int length() {
        return ids.length;
    }

    /** Positions that are scored: a label other than -100 after the first position (which nothing predicts). */
    public int targets() {
        int n = 0;
        for (int t = 1; t < labels.length; t++) {
            if (labels[t] != IGNORE) n++;
        }
        return n;
    }

    /** The first {@code maxLength} tokens. */
    public SftExample truncate(int maxLength) {
        if (ids.length <= maxLength) return this;
        return new SftExample(java.util.Arrays.copyOf(ids, maxLength), java.util.Arrays.copyOf(labels, maxLength));
    }

    /** A hash of the ids and labels of {@code rows} in order, to tell whether a checkpoint was trained on them. */
    public static String fingerprint(java.util.List<SftExample> rows) {
        long h = 1;
        for (SftExample e : rows) {
            h = 31 * (31 * h + java.util.Arrays.hashCode(e.ids())) + java.util.Arrays.hashCode(e.labels());
        }
        return Long.toHexString(h);
    }
}
