package dev.nemoh.kernels;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;

/**
 * A STREAM-like read-bandwidth probe: all threads sum a buffer far larger than the caches with vector loads, as
 * the decode matvecs stream their weights. The best of several passes is reported. The buffer sits in huge pages
 * where the OS offers them ({@link HugePages}), as the weights do: the probe measures the best the machine gives.
 */
public final class MemoryBandwidth {
    private MemoryBandwidth() {}

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

    /** Bytes per second of reading {@code bytes} of off-heap memory with every core. */
    public static double readBytesPerSecond(long bytes, int passes) {
        int threads = Parallel.threads();
        long perThread = bytes / threads / F.vectorByteSize() * F.vectorByteSize();
        try (Arena arena = Arena.ofShared()) {
            MemorySegment seg = HugePages.allocate(arena, perThread * threads);
            for (long i = 0; i < seg.byteSize(); i += 4096) seg.set(java.lang.foreign.ValueLayout.JAVA_BYTE, i, (byte) 1);
            double best = 0;
            float[] sink = new float[threads];
            for (int p = 0; p < passes; p++) {
                long t0 = System.nanoTime();
                java.util.stream.IntStream.range(0, threads).parallel().forEach(t -> {
                    long off = t * perThread;
                    FloatVector a0 = FloatVector.zero(F), a1 = FloatVector.zero(F), a2 = FloatVector.zero(F), a3 = FloatVector.zero(F);
                    int step = F.vectorByteSize();
                    for (long i = 0; i + 4L * step <= perThread; i += 4L * step) {
                        a0 = a0.add(FloatVector.fromMemorySegment(F, seg, off + i, ByteOrder.LITTLE_ENDIAN));
                        a1 = a1.add(FloatVector.fromMemorySegment(F, seg, off + i + step, ByteOrder.LITTLE_ENDIAN));
                        a2 = a2.add(FloatVector.fromMemorySegment(F, seg, off + i + 2L * step, ByteOrder.LITTLE_ENDIAN));
                        a3 = a3.add(FloatVector.fromMemorySegment(F, seg, off + i + 3L * step, ByteOrder.LITTLE_ENDIAN));
                    }
                    sink[t] = a0.add(a1).add(a2).add(a3).reduceLanes(VectorOperators.ADD);
                });
                long t1 = System.nanoTime();
                best = Math.max(best, perThread * threads / ((t1 - t0) / 1e9));
            }
            if (Float.isNaN(sink[0])) throw new IllegalStateException("unreachable: keeps the sums alive");
            return best;
        }
    }
}
