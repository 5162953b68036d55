package dev.nemoh;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Bounds of the float32 paths against their references, set from what was measured: each check names the error
 * measured when its bound was set, and the bound is about ten times that, rounded up to a 1-2-5 step ({@link #bound}),
 * so that an order-of-magnitude regression fails while the noise of another CPU's vector width or the JIT does not.
 * An error measured as exactly 0 (bit-identical paths) must stay 0. Every check prints its error, measurement and
 * bound, so a run's output shows how close each stands.
 */
public final class Tolerance {
    private Tolerance() {}

    /** The 1-2-5 step at or above ten times {@code measured}. */
    public static double bound(double measured) {
        if (!(measured > 0)) throw new IllegalArgumentException("measured must be positive: " + measured);
        double x = 10 * measured * (1 - 1e-9);
        double decade = Math.pow(10, Math.floor(Math.log10(x)));
        for (double step : new double[] {1, 2, 5, 10}) {
            if (step * decade >= x) return step * decade;
        }
        throw new AssertionError(x);
    }

    /** Asserts {@code actual} < {@link #bound}({@code measured}), or {@code actual} == 0 when 0 was measured. */
    public static void check(String what, double actual, double measured) {
        if (measured == 0) {
            System.out.printf(Locale.ROOT, "%s: %.3g (measured 0: must stay exact)%n", what, actual);
            assertEquals(0.0, actual, what + ": measured exactly 0 when the bound was set");
            return;
        }
        double bound = bound(measured);
        System.out.printf(Locale.ROOT, "%s: %.3g (bound %.0e, measured %.2g)%n", what, actual, bound, measured);
        assertTrue(actual < bound, String.format(Locale.ROOT, "%s: %.3g, bound %.0e (measured %.2g when the bound was"
                + " set)", what, actual, bound, measured));
    }

    /** Measured values by key (fixture, or fixture and kind), from alternating key, value arguments. */
    public static Map<String, Double> measured(Object... keyValues) {
        Map<String, Double> m = new LinkedHashMap<>();
        for (int i = 0; i < keyValues.length; i += 2) m.put((String) keyValues[i], ((Number) keyValues[i + 1]).doubleValue());
        return m;
    }

    /** {@code measured.get(key)}, failing with the key when it has none. */
    public static double of(Map<String, Double> measured, String key) {
        Double v = measured.get(key);
        if (v == null) throw new AssertionError("no measured value for " + key + " in " + measured.keySet());
        return v;
    }
}
