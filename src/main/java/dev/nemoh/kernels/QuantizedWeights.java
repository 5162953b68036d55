package dev.nemoh.kernels;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

import static jdk.incubator.vector.VectorOperators.ASHR;
import static jdk.incubator.vector.VectorOperators.B2S;
import static jdk.incubator.vector.VectorOperators.I2F;
import static jdk.incubator.vector.VectorOperators.LSHL;
import static jdk.incubator.vector.VectorOperators.LSHR;

/**
 * Block-quantized weights in GGML's Q8_0 and Q4_0 schemes: blocks of 32 consecutive weights of a row share one
 * scale d. Q8_0 stores {@code q = round(w / d)} with {@code d = max|w| / 127}. Q4_0 stores 4-bit
 * {@code q = round(w / d) + 8} with {@code d = m / -8}, m the block's value of largest magnitude; byte j of a block
 * holds weight j in its low nibble and weight j + 16 in its high nibble. Quants live off-heap in huge pages
 * ({@link HugePages}), scales as float32 (GGML keeps them as float16: 1.125 instead of 1.0625 bytes per weight for
 * Q8_0).
 *
 * <p>Dot products quantize the input as GGML does for these formats: each 32-value block of x to Q8_0, once per
 * matmul ({@link #rowDots}); a block's dot product is then exact in integers and costs one float multiply-add.
 * Widening every weight to float32 instead made the decode matvec compute bound on AVX2, well below the memory
 * bandwidth. The Vector API has no int8 multiply-add (pmaddubsw, VNNI), so quants are sign-extended to int16 lanes,
 * multiplied there (|q| ≤ 127 on both sides, so a product fits int16 and so does the sum of two), and pairs of
 * int16 lanes are added into int32 lanes by shifts. Prefill (MatMul's tile over many rows) still widens blocks of
 * weights to float32 against float32 activations.
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
    /** Q4_0 packs weights j and j + HALF of a block in one byte; the int8 dot pairs the same two. */
    private static final int HALF = BLOCK / 2;
    /** int16 lanes: at most 16, so that one vector never spans both halves of a block. */
    private static final VectorSpecies<Short> S = VectorSpecies.of(short.class,
            VectorShape.forBitSize(Math.min(256, FloatVector.SPECIES_PREFERRED.vectorBitSize())));
    private static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class, VectorShape.forBitSize(S.vectorBitSize() / 2));
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, S.vectorShape());
    private static final VectorSpecies<Float> F = VectorSpecies.of(float.class, S.vectorShape());
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

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
        this.quants = HugePages.allocate(Arena.ofAuto(), (long) rows * blocksPerRow * format.blockBytes);
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
        float d = q8Scale(src, off);
        float inv = d == 0 ? 0 : 1 / d;
        for (int i = 0; i < BLOCK; i++) dst.set(ValueLayout.JAVA_BYTE, dstOff + i, (byte) roundAway(src[off + i] * inv));
        return d;
    }

    private static float q8Scale(float[] src, int off) {
        float amax = 0;
        for (int i = 0; i < BLOCK; i++) amax = Math.max(amax, Math.abs(src[off + i]));
        return amax / 127f;
    }

    private static int roundAway(float v) {
        return v < 0 ? -Math.round(-v) : Math.round(v);
    }

    /**
     * x [rows, cols] from xOff quantized to Q8_0 blocks: {@code x[r, i] ≈ d[r · blocksPerRow + i / 32] · quant}, the
     * quants held as the kernel that reads them wants them: in int16 ({@code q}) for the Vector API kernels, or in
     * int8 ({@code bytes}) with each block's sum ({@code sums}) for the native ones; the other fields are null.
     */
    record Int8Rows(short[] q, byte[] bytes, float[] d, int[] sums) {}

    Int8Rows quantizeInput(float[] x, int xOff, int rows, boolean forNative) {
        short[] q = forNative ? null : new short[rows * cols];
        byte[] bytes = forNative ? new byte[rows * cols] : null;
        int[] sums = forNative ? new int[rows * blocksPerRow] : null;
        float[] d = new float[rows * blocksPerRow];
        for (int b = 0; b < d.length; b++) {
            int off = b * BLOCK;
            d[b] = q8Scale(x, xOff + off);
            float inv = d[b] == 0 ? 0 : 1 / d[b];
            for (int i = 0; i < BLOCK; i++) {
                int v = roundAway(x[xOff + off + i] * inv);
                if (forNative) {
                    bytes[off + i] = (byte) v;
                    sums[b] += v;
                } else {
                    q[off + i] = (short) v;
                }
            }
        }
        return new Int8Rows(q, bytes, d, sums);
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

    /** As {@link #rowDots}: x quantized to Q8_0 first. */
    @Override
    public float dot(int row, float[] x, int xOff) {
        boolean useNative = NativeKernels.available();
        return dot(row, quantizeInput(x, xOff, 1, useNative), 0, useNative);
    }

    @Override
    public RowDots rowDots(float[] x, int rows) {
        return rowDots(x, rows, NativeKernels.available());
    }

    /** As {@link #rowDots(float[], int)}; {@code useNative} picks the native Q8_0 kernel where it is available. */
    RowDots rowDots(float[] x, int rows, boolean useNative) {
        boolean nativeKernel = nativeKernel(useNative);
        Int8Rows q = quantizeInput(x, 0, rows, nativeKernel);
        if (!nativeKernel) return (row, r) -> dot(row, q, r);
        return new RowDots() {
            @Override
            public float dot(int row, int r) {
                return QuantizedWeights.this.dot(row, q, r, true);
            }

            @Override
            public void dots(int o0, int o1, int n, float scale, float[] y, int out, boolean add) {
                NativeKernels.quantDots(format == Format.Q4_0, quants, scales, q.bytes(), q.d(), q.sums(), blocksPerRow, 0, n, o0, o1, scale, add, y, o0, out);
            }
        };
    }

    private boolean nativeKernel(boolean wanted) {
        return wanted && NativeKernels.available();
    }

    private float dot(int row, Int8Rows x, int r, boolean useNative) {
        if (!nativeKernel(useNative)) return dot(row, x, r);
        float[] y = new float[1];
        NativeKernels.quantDots(format == Format.Q4_0, quants, scales, x.bytes(), x.d(), x.sums(), blocksPerRow, r, 1, row, row + 1, 1f, false, y, 0, 1);
        return y[0];
    }

    /**
     * {@code Σ_b dW[row, b] · dx[r, b] · Σ_j qW[row, b, j] · qx[r, b, j]}: the inner sums exact in int32, the outer
     * one in float32 in block order.
     */
    float dot(int row, Int8Rows x, int r) {
        return format == Format.Q8_0 ? dotQ8(row, x, r) : dotQ4(row, x, r);
    }

    // One loop per format: a vector assigned in either branch of a condition inside the loop left C2 boxing it,
    // which made the kernel slower (docs/PERFORMANCE.md history).
    private float dotQ8(int row, Int8Rows x, int r) {
        FloatVector acc = FloatVector.zero(F);
        int first = row * blocksPerRow;
        int xFirst = r * blocksPerRow;
        for (int b = 0; b < blocksPerRow; b++) {
            long qb = (long) (first + b) * BLOCK;
            int xb = (xFirst + b) * BLOCK;
            IntVector sum = IntVector.zero(I);
            for (int i = 0; i < HALF; i += S.length()) {
                ShortVector lo = (ShortVector) ByteVector.fromMemorySegment(B, quants, qb + i, LE).convertShape(B2S, S, 0);
                ShortVector hi = (ShortVector) ByteVector.fromMemorySegment(B, quants, qb + HALF + i, LE).convertShape(B2S, S, 0);
                sum = pairSums(lo, hi, x.q, xb + i, sum);
            }
            acc = scaled(sum, scales[first + b] * x.d[xFirst + b], acc);
        }
        return Vec.sum(acc);
    }

    private float dotQ4(int row, Int8Rows x, int r) {
        FloatVector acc = FloatVector.zero(F);
        int first = row * blocksPerRow;
        int xFirst = r * blocksPerRow;
        for (int b = 0; b < blocksPerRow; b++) {
            long qb = (long) (first + b) * HALF;
            int xb = (xFirst + b) * BLOCK;
            IntVector sum = IntVector.zero(I);
            for (int i = 0; i < HALF; i += S.length()) {
                ShortVector packed = ((ShortVector) ByteVector.fromMemorySegment(B, quants, qb + i, LE).convertShape(B2S, S, 0)).and((short) 0xff);
                sum = pairSums(packed.and((short) 0x0f).sub((short) 8), packed.lanewise(LSHR, 4).sub((short) 8), x.q, xb + i, sum);
            }
            acc = scaled(sum, scales[first + b] * x.d[xFirst + b], acc);
        }
        return Vec.sum(acc);
    }

    /** {@code acc + d · Σ sum} lane by lane: a block's products, once in float */
    private static FloatVector scaled(IntVector sum, float d, FloatVector acc) {
        return ((FloatVector) sum.convert(I2F, 0)).fma(FloatVector.broadcast(F, d), acc);
    }

    /** {@code sum + lo · x[off..] + hi · x[off + HALF..]}, each int32 lane taking two int16 lanes of products */
    private static IntVector pairSums(ShortVector lo, ShortVector hi, short[] x, int off, IntVector sum) {
        IntVector pairs = lo.mul(ShortVector.fromArray(S, x, off)).add(hi.mul(ShortVector.fromArray(S, x, off + HALF))).reinterpretAsInts();
        return sum.add(pairs.lanewise(ASHR, 16)).add(pairs.lanewise(LSHL, 16).lanewise(ASHR, 16));
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
