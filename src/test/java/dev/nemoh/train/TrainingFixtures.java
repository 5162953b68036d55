package dev.nemoh.train;

import dev.nemoh.Fixtures;
import dev.nemoh.io.SafetensorsFile;
import dev.nemoh.tensor.Tensor;

/** The training half of the fixtures: batch, labels and the names transformers and PEFT give parameters. */
public final class TrainingFixtures {
    private TrainingFixtures() {}

    static SafetensorsFile open(String fixture) {
        return SafetensorsFile.open(Fixtures.dir(fixture).resolve("training.safetensors"));
    }

    public static int[][] rows(Tensor t) {
        int rows = t.dim(0), cols = t.dim(1);
        int[] flat = t.toIntArray();
        int[][] out = new int[rows][cols];
        for (int r = 0; r < rows; r++) System.arraycopy(flat, r * cols, out[r], 0, cols);
        return out;
    }

    /** Targets the loss averages over: labels shifted by one, −100 ignored. */
    public static long targets(int[][] labels) {
        long n = 0;
        for (int[] row : labels) {
            for (int t = 1; t < row.length; t++) if (row[t] != -100) n++;
        }
        return n;
    }

    /** ‖a − b‖ / ‖b‖ */
    static double relative(float[] a, float[] b) {
        double num = 0, den = 0;
        for (int i = 0; i < a.length; i++) {
            num += (double) (a[i] - b[i]) * (a[i] - b[i]);
            den += (double) b[i] * b[i];
        }
        return Math.sqrt(num / den);
    }
}
