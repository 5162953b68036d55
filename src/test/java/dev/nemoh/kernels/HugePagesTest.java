package dev.nemoh.kernels;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class HugePagesTest {
    @Test
    void largeRequestIsZeroedWritableAndHugePageAligned() {
        long bytes = 3 * HugePages.SIZE + 5;
        MemorySegment seg;
        try (Arena arena = Arena.ofConfined()) {
            seg = HugePages.allocate(arena, bytes);
            assertEquals(bytes, seg.byteSize());
            for (long i = 0; i < bytes; i += 4093) assertEquals(0, seg.get(ValueLayout.JAVA_BYTE, i));
            seg.set(ValueLayout.JAVA_BYTE, bytes - 1, (byte) 7);
            seg.set(ValueLayout.JAVA_BYTE, 0, (byte) 3);
            assertEquals(7, seg.get(ValueLayout.JAVA_BYTE, bytes - 1));
            assertEquals(3, seg.get(ValueLayout.JAVA_BYTE, 0));
            if (System.getProperty("os.name").startsWith("Linux")) assertEquals(0, seg.address() % HugePages.SIZE);
        }
        // closing the arena unmapped it: the segment refuses access instead of touching freed memory
        MemorySegment closed = seg;
        assertThrows(IllegalStateException.class, () -> closed.get(ValueLayout.JAVA_BYTE, 0));
    }

    @Test
    void smallRequestIsAnOrdinaryAllocation() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = HugePages.allocate(arena, 100);
            assertEquals(100, seg.byteSize());
            assertEquals(0, seg.address() % 64);
            assertEquals(0, seg.get(ValueLayout.JAVA_LONG, 8));
        }
    }

    @Test
    void quantizedWeightsOfHugePageSizeMatchTheirDenseSource() {
        assumeTrue(System.getProperty("os.name").startsWith("Linux"));
        int rows = 512, cols = 4096; // 2 MiB of Q8_0 quants: the huge-page path
        float[] w = new float[rows * cols];
        java.util.SplittableRandom r = new java.util.SplittableRandom(5);
        for (int i = 0; i < w.length; i++) w[i] = (float) r.nextGaussian();
        QuantizedWeights q = QuantizedWeights.quantize(new FloatWeights("w", w, rows, cols), QuantizedWeights.Format.Q8_0);
        float[] back = new float[rows * cols];
        q.widen(0, rows, back);
        double num = 0, den = 0;
        for (int i = 0; i < w.length; i++) {
            num += (back[i] - w[i]) * (back[i] - w[i]);
            den += w[i] * w[i];
        }
        // Q8_0 of Gaussian weights: relative error ≈ 1/127 · E|w|/max|w| per block, well under 1%
        assertEquals(0, Math.sqrt(num / den), 0.01);
    }
}
