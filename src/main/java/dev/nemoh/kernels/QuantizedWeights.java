package dev.nemoh.kernels;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Block-quantized weights in GGML's Q8_0 and Q4_0 schemes: blocks of 32 consecutive weights of a row share one
 * scale d. Q8_0 stores {@code q = round(w / d)} with {@code d = max|w| / 127}. Q4_0 stores 4-bit
 * {@code q = round(w / d) + 8} with {@code d = m / -8}, m the block's value of largest magnitude; byte j of a block
 * holds weight j in its low nibble and weight j + 16 in its high nibble. Quants live off-heap, scales as float32
 * (GGML keeps them as float16: 1.125 instead of 1.0625 bytes per weight for Q8_0).
 */
public final class QuantizedWeights implements WeightMatrix {
    public enum Format {
        Q8_0(32), Q4_0(16);

        /** Bytes of quants per 32-weight block. */
        final int blockBytes;

        Format(int blockBytes) {
            this.blockBytes = blockBytes;
        }
    }

    public static final int BLOCK = 32;
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    /** Bytes that widen to one float vector. */
    private static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class, VectorShape.forBitSize(F.length() * 8));
    private static final VectorSpecies<Byte> B16 = ByteVector.SPECIES_128;

    private final String name;
    private final Format format;
    private final int rows;
    private final int cols;
    private final int blocksPerRow;
    private final MemorySegment quants;
    private final float[] scales;

    private QuantizedWeights(String name, Format format, int rows, int cols) {
        this.name = name;
        this.format = format;
        this.rows = rows;
        this.cols = cols;
        this.blocksPerRow = cols / BLOCK;
        this.quants = Arena.ofAuto().allocate((long) rows * blocksPerRow * format.blockBytes, 64);
        this.scales = new float[rows * blocksPerRow];
    }

    /** Whether a matrix with rows of {@code cols} weights can be quantized (whole blocks only). */
    public static boolean fits(int cols) {
        return cols % BLOCK == 0;
    }

    public static QuantizedWeights quantize(WeightMatrix w, Format format) {
        if (!fits(w.cols())) {
            throw new IllegalArgumentException(w.name() + ": rows of " + w.cols() + " weights do not split into blocks of " + BLOCK);
        }
        QuantizedWeights q = new QuantizedWeights(w.name(), format, w.rows(), w.cols());
        int chunk = 64;
        Parallel.forEach((w.rows() + chunk - 1) / chunk, (long) chunk * w.cols(), c -> {
            int r0 = c * chunk;
            int n = Math.min(chunk, w.rows() - r0);
            float[] buf = new float[n * w.cols()];
            w.widen(r0, n, buf);
            for (int r = 0; r < n; r++) {
                for (int b = 0; b < q.blocksPerRow; b++) q.quantizeBlock(r0 + r, b, buf, r * w.cols() + b * BLOCK);
            }
        });
        return q;
    }

    private void quantizeBlock(int row, int block, float[] src, int off) {
        int index = row * blocksPerRow + block;
        long base = (long) index * format.blockBytes;
        if (format == Format.Q8_0) {
            scales[index] = quantizeQ8Block(src, off, quants, base);
        } else {
            float amax = 0, max = 0;
            for (int i = 0; i < BLOCK; i++) {
                if (Math.abs(src[off + i]) > amax) {
                    amax = Math.abs(src[off + i]);
                    max = src[off + i];
                }
            }
            float d = max / -8f;
            float inv = d == 0 ? 0 : 1 / d;
            for (int j = 0; j < BLOCK / 2; j++) {
                int lo = Math.min(15, (int) (src[off + j] * inv + 8.5f));
                int hi = Math.min(15, (int) (src[off + j + BLOCK / 2] * inv + 8.5f));
                quants.set(ValueLayout.JAVA_BYTE, base + j, (byte) (lo | hi << 4));
            }
            scales[index] = d;
        }
    }

    /**
     * Quantizes the {@link #BLOCK} values {@code src[off..]} as GGML's Q8_0 does: {@code d = max|w| / 127},
     * {@code q = round(w / d)} (halves away from zero, as C's roundf); writes the quants to {@code dst} at
     * {@code dstOff} and returns d.
     */
    public static float quantizeQ8Block(float[] src, int off, MemorySegment dst, long dstOff) {
        float amax = 0;
        for (int i = 0; i < BLOCK; i++) amax = Math.max(amax, Math.abs(src[off + i]));
        float d = amax / 127f;
        float inv = d == 0 ? 0 : 1 / d;
        for (int i = 0; i < BLOCK; i++) {
            float v = src[off + i] * inv;
            dst.set(ValueLayout.JAVA_BYTE, dstOff + i, (byte) (v < 0 ? -Math.round(-v) : Math.round(v)));
        }
        return d;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public int rows() {
        return rows;
    }

    @Override
    public int cols() {
        return cols;
    }

    public Format format() {
        return format;
    }

    @Override
    public long bytes() {
        return quants.byteSize() + 4L * scales.length;
    }

    @Override
    public float dot(int row, float[] x, int xOff) {
        return format == Format.Q8_0 ? dotQ8(row, x, xOff) : dotQ4(row, x, xOff);
    }

    private float dotQ8(int row, float[] x, int xOff) {
        FloatVector acc = FloatVector.zero(F);
        int first = row * blocksPerRow;
        int step = F.length();
        for (int b = 0; b < blocksPerRow; b++) {
            long qb = (long) (first + b) * BLOCK;
            int xb = xOff + b * BLOCK;
            FloatVector block = FloatVector.zero(F);
            for (int i = 0; i < BLOCK; i += step) {
                FloatVector q = (FloatVector) ByteVector.fromMemorySegment(B, quants, qb + i, java.nio.ByteOrder.LITTLE_ENDIAN)
                        .convertShape(VectorOperators.B2F, F, 0);
                block = q.fma(FloatVector.fromArray(F, x, xb + i), block);
            }
            acc = block.fma(FloatVector.broadcast(F, scales[first + b]), acc);
        }
        return acc.reduceLanes(VectorOperators.ADD);
    }

    private float dotQ4(int row, float[] x, int xOff) {
        FloatVector acc = FloatVector.zero(F);
        int first = row * blocksPerRow;
        int step = F.length();
        int parts = 16 / step; // float vectors per 16 nibbles
        for (int b = 0; b < blocksPerRow; b++) {
            ByteVector packed = ByteVector.fromMemorySegment(B16, quants, (long) (first + b) * 16, java.nio.ByteOrder.LITTLE_ENDIAN);
            ByteVector lo = packed.and((byte) 0x0f).sub((byte) 8);
            ByteVector hi = packed.lanewise(VectorOperators.LSHR, 4).and((byte) 0x0f).sub((byte) 8);
            int xb = xOff + b * BLOCK;
            FloatVector block = FloatVector.zero(F);
            for (int p = 0; p < parts; p++) {
                FloatVector ql = (FloatVector) lo.convertShape(VectorOperators.B2F, F, p);
                FloatVector qh = (FloatVector) hi.convertShape(VectorOperators.B2F, F, p);
                block = ql.fma(FloatVector.fromArray(F, x, xb + p * step), block);
                block = qh.fma(FloatVector.fromArray(F, x, xb + 16 + p * step), block);
            }
            acc = block.fma(FloatVector.broadcast(F, scales[first + b]), acc);
        }
        return acc.reduceLanes(VectorOperators.ADD);
    }

    @Override
    public void widen(int first, int n, float[] dst) {
        for (int r = 0; r < n; r++) {
            for (int b = 0; b < blocksPerRow; b++) {
                int index = (first + r) * blocksPerRow + b;
                float d = scales[index];
                long base = (long) index * format.blockBytes;
                int out = r * cols + b * BLOCK;
                if (format == Format.Q8_0) {
                    for (int i = 0; i < BLOCK; i++) dst[out + i] = d * quants.get(ValueLayout.JAVA_BYTE, base + i);
                } else {
                    for (int j = 0; j < BLOCK / 2; j++) {
                        int v = quants.get(ValueLayout.JAVA_BYTE, base + j) & 0xff;
                        dst[out + j] = d * ((v & 0x0f) - 8);
                        dst[out + j + BLOCK / 2] = d * ((v >>> 4) - 8);
                    }
                }
            }
        }
    }
}
