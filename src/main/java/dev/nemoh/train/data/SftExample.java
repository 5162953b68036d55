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

    /**
     * A hash (SHA-256, 16 hex digits) of the ids and labels of {@code rows} in order, to tell whether a checkpoint
     * was trained on them.
     */
    public static String fingerprint(java.util.List<SftExample> rows) {
        java.security.MessageDigest sha;
        try {
            sha = java.security.MessageDigest.getInstance("SHA-256");
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        for (SftExample e : rows) {
            java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(4 + 8 * e.ids().length);
            b.putInt(e.ids().length);
            for (int id : e.ids()) b.putInt(id);
            for (int label : e.labels()) b.putInt(label);
            sha.update(b.array());
        }
        return java.util.HexFormat.of().formatHex(sha.digest(), 0, 8);
    }
}
