package dev.nemoh.train;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The multipliers of transformers' warmup schedules, worked out by hand for warmup 2 of 10 steps. */
class LrScheduleTest {
    @Test
    void linearWarmsUpThenFallsToZero() {
        LrSchedule s = new LrSchedule(LrSchedule.Kind.LINEAR, 2e-4, 2, 10);
        assertEquals(0.0, s.lr(0));
        assertEquals(1e-4, s.lr(1), 1e-18);
        assertEquals(2e-4, s.lr(2), 1e-18);
        assertEquals(1e-4, s.lr(6), 1e-18);   // (10 - 6) / (10 - 2)
        assertEquals(0.25e-4, s.lr(9), 1e-18);
        assertEquals(0.0, s.lr(10));
        assertEquals(0.0, s.lr(12));          // clamped, never negative
    }

    @Test
    void cosineFollowsHalfACycle() {
        LrSchedule s = new LrSchedule(LrSchedule.Kind.COSINE, 1.0, 2, 10);
        assertEquals(0.5, s.lr(1), 1e-15);
        assertEquals(1.0, s.lr(2), 1e-15);
        assertEquals(0.8535533905932737, s.lr(4), 1e-15); // 0.5 (1 + cos(pi/4))
        assertEquals(0.5, s.lr(6), 1e-15);
        assertEquals(0.1464466094067262, s.lr(8), 1e-15);
        assertEquals(0.0, s.lr(10), 1e-15);
    }

    @Test
    void constantOnlyWarmsUp() {
        LrSchedule s = new LrSchedule(LrSchedule.Kind.CONSTANT, 3.0, 4, 10);
        assertEquals(0.0, s.lr(0));
        assertEquals(1.5, s.lr(2));
        assertEquals(3.0, s.lr(4));
        assertEquals(3.0, s.lr(9));
    }

    @Test
    void noWarmupStartsAtThePeak() {
        assertEquals(1.0, new LrSchedule(LrSchedule.Kind.COSINE, 1.0, 0, 4).lr(0));
        assertEquals(0.75, new LrSchedule(LrSchedule.Kind.LINEAR, 1.0, 0, 4).lr(1));
    }

    @Test
    void badSettingsAreNamed() {
        var e = assertThrows(IllegalArgumentException.class, () -> LrSchedule.Kind.parse("step"));
        assertTrue(e.getMessage().contains("constant, linear or cosine"), e.getMessage());
        assertEquals(LrSchedule.Kind.COSINE, LrSchedule.Kind.parse("Cosine"));
        assertThrows(IllegalArgumentException.class, () -> new LrSchedule(LrSchedule.Kind.LINEAR, 0, 0, 10));
        assertThrows(IllegalArgumentException.class, () -> new LrSchedule(LrSchedule.Kind.LINEAR, 1, 0, 0));
    }

    @Test
    void aMinimumEndsTheDecayAboveZero() {
        LrSchedule s = new LrSchedule(LrSchedule.Kind.COSINE, 1e-3, 2, 12, 1e-4);
        assertEquals(0.0, s.lr(0));                 // warmup from 0 as without a minimum
        assertEquals(5e-4, s.lr(1), 1e-18);
        assertEquals(1e-3, s.lr(2), 1e-18);         // the peak after warmup
        assertEquals(5.5e-4, s.lr(7), 1e-15);       // half way: minimum + (peak - minimum) / 2
        assertEquals(1e-4, s.lr(12), 1e-18);        // ends at the minimum
        assertEquals(1e-4, new LrSchedule(LrSchedule.Kind.LINEAR, 1e-3, 0, 10, 1e-4).lr(10), 1e-18);
        assertEquals(1e-3, new LrSchedule(LrSchedule.Kind.CONSTANT, 1e-3, 0, 10, 1e-4).lr(9), 1e-18);
        org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                () -> new LrSchedule(LrSchedule.Kind.COSINE, 1e-4, 0, 10, 1e-3));
    }
}
