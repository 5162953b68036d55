package dev.nemoh;

import org.junit.jupiter.api.Test;
import org.opentest4j.AssertionFailedError;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class ToleranceTest {
    @Test
    void boundsAreTenTimesTheMeasurementRoundedUpToA125Step() {
        assertEquals(5e-5, Tolerance.bound(3.1e-6), 1e-20);
        assertEquals(1e-4, Tolerance.bound(5.8e-6), 1e-20);
        assertEquals(2e-5, Tolerance.bound(2e-6), 1e-20);
        assertEquals(1e-5, Tolerance.bound(1e-6), 1e-20);
        assertEquals(2e-2, Tolerance.bound(1.1e-3), 1e-20);
    }

    @Test
    void aThirtyfoldRegressionFails() {
        Tolerance.check("as measured", 3.1e-6, 3.1e-6);
        assertThrows(AssertionFailedError.class, () -> Tolerance.check("30x", 30 * 3.1e-6, 3.1e-6));
        assertThrows(AssertionFailedError.class, () -> Tolerance.check("no longer exact", 1e-30, 0));
    }
}
