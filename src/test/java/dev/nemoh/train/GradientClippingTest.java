package dev.nemoh.train;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

class GradientClippingTest {
    private static List<Parameter> grads345_12() {
        Parameter a = new Parameter("a", new int[]{2}, new float[2]);
        Parameter b = new Parameter("b", new int[]{1}, new float[1]);
        a.grad[0] = 3;
        a.grad[1] = 4;
        b.grad[0] = 12;
        return List.of(a, b);
    }

    @Test
    void scalesAllGradientsByOneGlobalCoefficient() {
        List<Parameter> p = grads345_12();
        assertEquals(13.0, GradientClipping.clip(p, 6.5)); // sqrt(9 + 16 + 144), reported before clipping
        float c = (float) (6.5 / (13.0 + 1e-6));
        assertArrayEquals(new float[]{3 * c, 4 * c}, p.get(0).grad);
        assertArrayEquals(new float[]{12 * c}, p.get(1).grad);
        assertEquals(6.5, Math.hypot(Math.hypot(p.get(0).grad[0], p.get(0).grad[1]), p.get(1).grad[0]), 1e-5);
    }

    @Test
    void leavesGradientsBelowTheLimitAlone() {
        List<Parameter> p = grads345_12();
        assertEquals(13.0, GradientClipping.clip(p, 13.5));
        assertArrayEquals(new float[]{3, 4}, p.get(0).grad);
        assertEquals(13.0, GradientClipping.clip(p, 0)); // 0 disables clipping but still measures
        assertArrayEquals(new float[]{12}, p.get(1).grad);
    }
}
