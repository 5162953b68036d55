package dev.nemoh;

import dev.nemoh.io.SafetensorsFile;
import dev.nemoh.tensor.Tensor;

import java.net.URISyntaxException;
import java.nio.file.Path;

/** The reference fixtures made with transformers' NemotronH code, copied from shared/fixtures into test resources. */
public final class Fixtures {
    private Fixtures() {}

    public static final String[] DENSE = {"nemotron-h-tiny", "nano-v2-tiny"};
    public static final String[] ALL = {"nemotron-h-tiny", "nano-v2-tiny", "moe-tiny"};

    public static Path dir(String name) {
        try {
            return Path.of(Fixtures.class.getResource("/fixtures/" + name).toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    public static Path model(String name) {
        return dir(name).resolve("model");
    }

    public static SafetensorsFile reference(String name) {
        return SafetensorsFile.open(dir(name).resolve("reference.safetensors"));
    }

    public static int[] ids(Tensor t) {
        return t.toIntArray();
    }

    /** Max |a - b|. */
    public static double maxAbs(float[] a, double[] b) {
        if (a.length != b.length) throw new AssertionError("length " + a.length + " vs " + b.length);
        double m = 0;
        for (int i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
        return m;
    }

    public static double maxAbs(float[] a, float[] b) {
        return maxAbs(a, widen(b));
    }

    public static double[] widen(float[] a) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) d[i] = a[i];
        return d;
    }

    /** ‖a − b‖ / ‖b‖. */
    public static double relative(float[] a, double[] b) {
        double num = 0, den = 0;
        for (int i = 0; i < a.length; i++) {
            num += (a[i] - b[i]) * (a[i] - b[i]);
            den += b[i] * b[i];
        }
        return Math.sqrt(num / den);
    }
}
