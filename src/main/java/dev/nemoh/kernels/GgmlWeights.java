package dev.nemoh.kernels;

import dev.nemoh.tensor.DType;
import dev.nemoh.tensor.GgmlQuants;
import dev.nemoh.tensor.Numerics;
import dev.nemoh.tensor.Tensor;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

import static jdk.incubator.vector.VectorOperators.B2S;
import static jdk.incubator.vector.VectorOperators.LSHL;
import static jdk.incubator.vector.VectorOperators.LSHR;
import static jdk.incubator.vector.VectorOperators.S2I;

/**
 * A weight matrix of a GGUF file in GGML's own storage (F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K), read in place from
 * the mapping, whose products are those of llama.cpp's CPU backend: each input row is first rounded to the format's
 * "vec_dot" type, once per matmul, as ggml's mul_mat does: to float16 or bfloat16 for F16/BF16 weights; to Q8_0
 * blocks (32 values, {@code d = max|x| / 127} kept as float16, quants {@code rint(x · 127 / max|x|)}) for Q8_0 and
 * Q4_0; to Q8_K blocks (256 values, {@code d = -max / 127} for the value of largest magnitude, float32, with sums of
 * each 16 quants) for the K-quants. A block's product is then an exact integer sum times the two scales. Weight
 * quants are unpacked in vector registers (Vector API), 16 at a time, and multiplied in int16 lanes. Every matmul,
 * prompt or decode step, goes through these products ({@link #roundsInput}).
 */
public final class GgmlWeights implements WeightMatrix {
    private static final VectorSpecies<Byte> B = ByteVector.SPECIES_128;
    private static final VectorSpecies<Short> S = ShortVector.SPECIES_256;
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_256;
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(LE);
    private static final int QK = GgmlQuants.QK_K;

    private final String name;
    private final DType type;
    private final int rows;
    private final int cols;
    private final MemorySegment data;
    private final long rowBytes;

    /** The matrix of a [rows, cols] tensor of one of the types above, in place. */
    public GgmlWeights(Tensor t) {
        if (t.rank() != 2) throw new IllegalArgumentException(t.name() + " is not a matrix: " + t.shapeString());
        this.type = t.dtype();
        if (!supports(type)) throw new IllegalArgumentException(t.name() + " is " + type + ", which GgmlWeights does not hold");
        this.name = t.name();
        this.rows = t.dim(0);
        this.cols = t.dim(1);
        this.data = t.data();
        this.rowBytes = type.byteSize(cols);
    }

    public static boolean supports(DType t) {
        return t == DType.F16 || t == DType.BF16 || t.isBlock();
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

    public DType type() {
        return type;
    }

    @Override
    public long bytes() {
        return rows * rowBytes;
    }

    @Override
    public boolean roundsInput() {
        return true;
    }

    // ------------------------------------------------------------------ the input, rounded as ggml rounds it

    /**
     * Input rows rounded to the vec_dot type: float values ({@code f}, F16/BF16), or int8 quants held as int16
     * ({@code q}) with a scale per block ({@code d}) and, for Q8_K, the sum of each 16 quants ({@code bsums}).
     */
    record Input(float[] f, short[] q, float[] d, int[] bsums) {}

    Input round(float[] x, int xOff, int n) {
        int len = n * cols;
        return switch (type) {
            case F16, BF16 -> {
                float[] f = new float[len];
                for (int i = 0; i < len; i++) {
                    float v = x[xOff + i];
                    f[i] = type == DType.F16 ? Float.float16ToFloat(Float.floatToFloat16(v)) : Numerics.bf16ToFloat(Numerics.floatToBf16(v));
                }
                yield new Input(f, null, null, null);
            }
            case Q8_0, Q4_0 -> q8_0(x, xOff, len);
            default -> q8K(x, xOff, len);
        };
    }

    /** ggml's quantize_row_q8_0 (its AVX2 form: {@code 127 / max}, rounding half to even). */
    static Input q8_0(float[] x, int xOff, int len) {
        short[] q = new short[len];
        float[] d = new float[len / 32];
        for (int b = 0; b < d.length; b++) {
            float amax = 0;
            for (int i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(x[xOff + 32 * b + i]));
            d[b] = Float.float16ToFloat(Float.floatToFloat16(amax / 127f));
            float id = amax != 0 ? 127f / amax : 0;
            for (int i = 0; i < 32; i++) q[32 * b + i] = (short) Math.rint(x[xOff + 32 * b + i] * id);
        }
        return new Input(null, q, d, null);
    }

    /** ggml's quantize_row_q8_K_ref. */
    static Input q8K(float[] x, int xOff, int len) {
        short[] q = new short[len];
        float[] d = new float[len / QK];
        int[] bsums = new int[len / 16];
        for (int b = 0; b < d.length; b++) {
            int o = xOff + QK * b;
            float amax = 0, max = 0;
            for (int i = 0; i < QK; i++) {
                float ax = Math.abs(x[o + i]);
                if (ax > amax) {
                    amax = ax;
                    max = x[o + i];
                }
            }
            if (amax == 0) continue;
            float iscale = -127f / max;
            for (int i = 0; i < QK; i++) {
                int v = Math.min(127, (int) Math.rint(iscale * x[o + i]));
                q[QK * b + i] = (short) v;
                bsums[(QK * b + i) / 16] += v;
            }
            d[b] = 1 / iscale;
        }
        return new Input(null, q, d, bsums);
    }

    // ------------------------------------------------------------------ products

    @Override
    public float dot(int row, float[] x, int xOff) {
        return dot(row, round(x, xOff, 1), 0);
    }

    @Override
    public RowDots rowDots(float[] x, int n) {
        Input in = round(x, 0, n);
        if (in.f == null) return (row, r) -> dot(row, in, r);
        return new RowDots() {
            @Override
            public float dot(int row, int r) {
                return GgmlWeights.this.dot(row, in, r);
            }

            @Override
            public void dots(int o0, int o1, int rowsOfX, float scale, float[] y, int out, boolean add) {
                float[] w = new float[cols];
                for (int o = o0; o < o1; o++) {
                    widen(o, 1, w);
                    for (int r = 0; r < rowsOfX; r++) {
                        float v = scale * Vec.dot(w, 0, in.f, r * cols, cols);
                        y[r * out + o] = add ? y[r * out + o] + v : v;
                    }
                }
            }
        };
    }

    /** The product of weight row {@code row} with input row {@code r}. */
    float dot(int row, Input x, int r) {
        long base = row * rowBytes;
        return switch (type) {
            case F16, BF16 -> {
                float[] w = new float[cols];
                widen(row, 1, w);
                yield Vec.dot(w, 0, x.f, r * cols, cols);
            }
            case Q8_0 -> dotQ8_0(base, x, r * cols);
            case Q4_0 -> dotQ4_0(base, x, r * cols);
            case Q4_K -> dotQ4K(base, x, r * cols, false);
            case Q5_K -> dotQ4K(base, x, r * cols, true);
            case Q6_K -> dotQ6K(base, x, r * cols);
            default -> throw new IllegalStateException(type.toString());
        };
    }

    /** {@code acc + Σ w[j] · x[xOff + j]} over 16 lanes: w holds int8 values, x int8 quants in int16. */
    private static IntVector dot16(ByteVector w, short[] x, int xOff, IntVector acc) {
        ShortVector p = ((ShortVector) w.convertShape(B2S, S, 0)).mul(ShortVector.fromArray(S, x, xOff));
        return acc.add(p.convertShape(S2I, I, 0)).add(p.convertShape(S2I, I, 1));
    }

    private ByteVector bytes(long pos) {
        return ByteVector.fromMemorySegment(B, data, pos, LE);
    }

    private float dotQ8_0(long base, Input x, int xOff) {
        float sum = 0;
        for (int b = 0; b < cols / 32; b++) {
            long pos = base + 34L * b;
            int xo = xOff + 32 * b;
            IntVector acc = dot16(bytes(pos + 2), x.q, xo, IntVector.zero(I));
            acc = dot16(bytes(pos + 18), x.q, xo + 16, acc);
            sum += GgmlQuants.half(data, pos) * x.d[xo / 32] * acc.reduceLanes(jdk.incubator.vector.VectorOperators.ADD);
        }
        return sum;
    }

    private float dotQ4_0(long base, Input x, int xOff) {
        float sum = 0;
        for (int b = 0; b < cols / 32; b++) {
            long pos = base + 18L * b;
            int xo = xOff + 32 * b;
            ByteVector v = bytes(pos + 2);
            IntVector acc = dot16(v.and((byte) 0x0f).sub((byte) 8), x.q, xo, IntVector.zero(I));
            acc = dot16(v.lanewise(LSHR, 4).sub((byte) 8), x.q, xo + 16, acc);
            sum += GgmlQuants.half(data, pos) * x.d[xo / 32] * acc.reduceLanes(jdk.incubator.vector.VectorOperators.ADD);
        }
        return sum;
    }

    /** Q4_K, or with {@code fifthBit} Q5_K (its 32 bytes of high bits sit before the nibbles). */
    private float dotQ4K(long base, Input x, int xOff, boolean fifthBit) {
        float sum = 0;
        int blockBytes = type.blockBytes;
        for (int b = 0; b < cols / QK; b++) {
            long pos = base + (long) blockBytes * b, scales = pos + 4, qh = pos + 16, qs = pos + (fifthBit ? 48 : 16);
            int xo = xOff + QK * b;
            IntVector acc = IntVector.zero(I);
            for (int j = 0; j < 4; j++) {
                int sc0 = GgmlQuants.scaleK4(data, scales, 2 * j), sc1 = GgmlQuants.scaleK4(data, scales, 2 * j + 1);
                IntVector lo = IntVector.zero(I), hi = IntVector.zero(I);
                for (int h = 0; h < 2; h++) {
                    ByteVector v = bytes(qs + 32L * j + 16L * h);
                    ByteVector l = v.and((byte) 0x0f), u = v.lanewise(LSHR, 4);
                    if (fifthBit) {
                        ByteVector bits = bytes(qh + 16L * h);
                        l = l.or(bits.lanewise(LSHR, 2 * j).and((byte) 1).lanewise(LSHL, 4));
                        u = u.or(bits.lanewise(LSHR, 2 * j + 1).and((byte) 1).lanewise(LSHL, 4));
                    }
                    lo = dot16(l, x.q, xo + 64 * j + 16 * h, lo);
                    hi = dot16(u, x.q, xo + 64 * j + 32 + 16 * h, hi);
                }
                acc = acc.add(lo.mul(sc0)).add(hi.mul(sc1));
            }
            int mins = 0;
            for (int j = 0; j < 16; j++) mins += x.bsums[xo / 16 + j] * GgmlQuants.minK4(data, scales, j / 2);
            float dy = x.d[xo / QK];
            sum += GgmlQuants.half(data, pos) * dy * acc.reduceLanes(jdk.incubator.vector.VectorOperators.ADD)
                    - GgmlQuants.half(data, pos + 2) * dy * mins;
        }
        return sum;
    }

    private float dotQ6K(long base, Input x, int xOff) {
        float sum = 0;
        for (int b = 0; b < cols / QK; b++) {
            long pos = base + 210L * b;
            int xo = xOff + QK * b;
            IntVector acc = IntVector.zero(I);
            for (int n = 0; n < 2; n++) {
                long ql = pos + 64L * n, qh = pos + 128 + 32L * n, sc = pos + 192 + 8L * n;
                for (int h = 0; h < 2; h++) {
                    ByteVector l0 = bytes(ql + 16L * h), l1 = bytes(ql + 32 + 16L * h), hb = bytes(qh + 16L * h);
                    int xb = xo + 128 * n + 16 * h;
                    ByteVector q1 = l0.and((byte) 0x0f).or(hb.and((byte) 3).lanewise(LSHL, 4)).sub((byte) 32);
                    ByteVector q2 = l1.and((byte) 0x0f).or(hb.lanewise(LSHR, 2).and((byte) 3).lanewise(LSHL, 4)).sub((byte) 32);
                    ByteVector q3 = l0.lanewise(LSHR, 4).or(hb.lanewise(LSHR, 4).and((byte) 3).lanewise(LSHL, 4)).sub((byte) 32);
                    ByteVector q4 = l1.lanewise(LSHR, 4).or(hb.lanewise(LSHR, 6).and((byte) 3).lanewise(LSHL, 4)).sub((byte) 32);
                    acc = acc.add(dot16(q1, x.q, xb, IntVector.zero(I)).mul(scale(sc + h)));
                    acc = acc.add(dot16(q2, x.q, xb + 32, IntVector.zero(I)).mul(scale(sc + h + 2)));
                    acc = acc.add(dot16(q3, x.q, xb + 64, IntVector.zero(I)).mul(scale(sc + h + 4)));
                    acc = acc.add(dot16(q4, x.q, xb + 96, IntVector.zero(I)).mul(scale(sc + h + 6)));
                }
            }
            sum += GgmlQuants.half(data, pos + 208) * x.d[xo / QK] * acc.reduceLanes(jdk.incubator.vector.VectorOperators.ADD);
        }
        return sum;
    }

    private int scale(long pos) {
        return data.get(ValueLayout.JAVA_BYTE, pos);
    }

    // ------------------------------------------------------------------ widening

    @Override
    public void widen(int first, int n, float[] dst) {
        for (int r = 0; r < n; r++) widenRow(first + r, dst, r * cols);
    }

    private void widenRow(int row, float[] dst, int off) {
        long base = row * rowBytes;
        switch (type) {
            case F16 -> {
                for (int i = 0; i < cols; i++) dst[off + i] = Float.float16ToFloat(data.get(SHORT, base + 2L * i));
            }
            case BF16 -> {
                for (int i = 0; i < cols; i++) dst[off + i] = Numerics.bf16ToFloat(data.get(SHORT, base + 2L * i));
            }
            default -> GgmlQuants.dequantize(type, data, (long) row * cols, cols, dst, off);
        }
    }
}
