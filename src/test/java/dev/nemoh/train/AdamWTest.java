package dev.nemoh.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import org.junit.jupiter.api.Test;

class AdamWTest {
    /** float64 evaluation of torch's update rule, the reference for the float32 optimizer. */
    private static double[] reference(double[] p, double[][] grads, double lr, double b1, double b2, double eps,
            double wd) {
        double[] x = p.clone(), m = new double[p.length], v = new double[p.length];
        for (int t = 1; t <= grads.length; t++) {
            for (int j = 0; j < x.length; j++) {
                double g = grads[t - 1][j];
                x[j] *= 1 - lr * wd;
                m[j] = b1 * m[j] + (1 - b1) * g;
                v[j] = b2 * v[j] + (1 - b2) * g * g;
                double denom = Math.sqrt(v[j]) / Math.sqrt(1 - Math.pow(b2, t)) + eps;
                x[j] -= lr / (1 - Math.pow(b1, t)) * m[j] / denom;
            }
        }
        return x;
    }

    @Test
    void matchesTorchUpdateRuleOverSeveralSteps() {
        float[] start = {0.5f, -1.25f, 2f, 0f, 1e-3f};
        double[][] grads = {{0.1, -0.2, 3, 1e-6, 0}, {-0.3, -0.2, 1, 2e-6, 0}, {0.05, 0.4, -2, 0, 0}};
        Parameter p = new Parameter("w", new int[] {5}, start.clone());
        AdamW opt = new AdamW(List.of(p), 0.9, 0.95, 1e-8, 0.1);
        for (double[] g : grads) {
            for (int j = 0; j < g.length; j++) p.grad[j] = (float) g[j];
            opt.step(1e-2);
        }
        double[] startD = new double[start.length];
        for (int j = 0; j < start.length; j++) startD[j] = start[j];
        double[] ref = reference(startD, grads, 1e-2, 0.9, 0.95, 1e-8, 0.1);
        for (int j = 0; j < ref.length; j++) assertEquals(ref[j], p.value[j], 1e-6, "element " + j);
        assertEquals(3, opt.steps());
        // the first step of Adam moves each element by lr against its gradient's sign, whatever its magnitude
        assertEquals(0.5 * (1 - 1e-3) - 1e-2, reference(new double[] {0.5}, new double[][] {{0.1}}, 1e-2, 0.9, 0.95,
                1e-8, 0.1)[0], 1e-9);
    }

    @Test
    void restoredStateContinuesIdentically() {
        Parameter a = new Parameter("w", new int[] {2}, new float[] {1f, -1f});
        Parameter b = new Parameter("w", new int[] {2}, new float[] {1f, -1f});
        AdamW optA = new AdamW(List.of(a), 0.9, 0.999, 1e-8, 0.01);
        AdamW optB = new AdamW(List.of(b), 0.9, 0.999, 1e-8, 0.01);
        a.grad[0] = 0.3f;
        a.grad[1] = -0.7f;
        optA.step(1e-3);
        System.arraycopy(a.value, 0, b.value, 0, 2);
        optB.restore(optA.steps(), List.of(optA.m(0).clone()), List.of(optA.v(0).clone()));
        for (AdamW opt : List.of(optA, optB)) {
            Parameter p = opt == optA ? a : b;
            p.grad[0] = -0.1f;
            p.grad[1] = 0.2f;
            opt.step(1e-3);
        }
        assertArrayEquals(a.value, b.value);
        assertEquals(2, optB.steps());
    }

    @Test
    void rejectsMismatchedState() {
        Parameter p = new Parameter("w", new int[] {3}, new float[3]);
        AdamW opt = new AdamW(List.of(p), 0.9, 0.999, 1e-8, 0);
        var e = assertThrows(IllegalArgumentException.class,
                () -> opt.restore(1, List.of(new float[2]), List.of(new float[3])));
        assertEquals(true, e.getMessage().contains("w"));
        assertThrows(IllegalArgumentException.class, () -> new AdamW(List.of(p), 1.0, 0.999, 1e-8, 0));
    }
}
