package dev.nemoh.kernels;

import dev.nemoh.tensor.DType;
import dev.nemoh.tensor.GgmlQuants;
import dev.nemoh.tensor.Numerics;
import dev.nemoh.tensor.Tensor;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

import static jdk.incubator.vector.VectorOperators.ASHR;
import static jdk.incubator.vector.VectorOperators.B2S;
import static jdk.incubator.vector.VectorOperators.I2F;
import static jdk.incubator.vector.VectorOperators.LSHL;
import static jdk.incubator.vector.VectorOperators.LSHR;

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
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_256;
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
            case Q4_K -> dotQ4K(base, x, r * cols);
            case Q5_K -> dotQ5K(base, x, r * cols);
            case Q6_K -> dotQ6K(base, x, r * cols);
            default -> throw new IllegalStateException(type.toString());
        };
    }

    /** {@code acc + Σ w[j] · x[xOff + j]} over 16 lanes: w and x hold int8 values in int16 lanes. */
    private static IntVector dot16(ShortVector w, short[] x, int xOff, IntVector acc) {
        // each int32 lane holds two int16 products (|product| < 2^15): its high half, and its low half sign-extended
        IntVector p = w.mul(ShortVector.fromArray(S, x, xOff)).reinterpretAsInts();
        return acc.add(p.lanewise(ASHR, 16)).add(p.lanewise(LSHL, 16).lanewise(ASHR, 16));
    }

    /** 16 bytes from {@code pos} as int16 lanes, sign-extended. */
    private ShortVector int8s(long pos) {
        return (ShortVector) ByteVector.fromMemorySegment(B, data, pos, LE).convertShape(B2S, S, 0);
    }

    /** 16 bytes from {@code pos} as int16 lanes, unsigned (bit operations run on int16 lanes: x86 has no byte shifts). */
    private ShortVector uint8s(long pos) {
        return ((ShortVector) ByteVector.fromMemorySegment(B, data, pos, LE).convertShape(B2S, S, 0)).and((short) 0xff);
    }

    /** {@code acc + d · Σ lanes} in float lanes: a block's exact integer sum scaled once. */
    private static FloatVector scaled(IntVector sum, float d, FloatVector acc) {
        return ((FloatVector) sum.convert(I2F, 0)).fma(FloatVector.broadcast(F, d), acc);
    }

    private float dotQ8_0(long base, Input x, int xOff) {
        FloatVector acc = FloatVector.zero(F);
        for (int b = 0; b < cols / 32; b++) {
            long pos = base + 34L * b;
            int xo = xOff + 32 * b;
            IntVector sum = dot16(int8s(pos + 2), x.q, xo, IntVector.zero(I));
            sum = dot16(int8s(pos + 18), x.q, xo + 16, sum);
            acc = scaled(sum, GgmlQuants.half(data, pos) * x.d[xo / 32], acc);
        }
        return acc.reduceLanes(VectorOperators.ADD);
    }

    private float dotQ4_0(long base, Input x, int xOff) {
        FloatVector acc = FloatVector.zero(F);
        for (int b = 0; b < cols / 32; b++) {
            long pos = base + 18L * b;
            int xo = xOff + 32 * b;
            ShortVector v = uint8s(pos + 2);
            IntVector sum = dot16(v.and((short) 0x0f).sub((short) 8), x.q, xo, IntVector.zero(I));
            sum = dot16(v.lanewise(LSHR, 4).sub((short) 8), x.q, xo + 16, sum);
            acc = scaled(sum, GgmlQuants.half(data, pos) * x.d[xo / 32], acc);
        }
        return acc.reduceLanes(VectorOperators.ADD);
    }

    // The K-quant kernels keep every vector shift count constant (a variable count is not compiled to a vector
    // shift) and their bodies small (a larger method stopped C2 from inlining the vector helpers, which then boxed
    // every vector): the fifth bits and the high bits of Q6_K are shifted down one step per loop iteration instead.

    private float dotQ4K(long base, Input x, int xOff) {
        FloatVector acc = FloatVector.zero(F);
        float mins = 0;
        for (int b = 0; b < cols / QK; b++) {
            long pos = base + 144L * b, scales = pos + 4, qs = pos + 16;
            int xo = xOff + QK * b;
            IntVector sum = IntVector.zero(I);
            for (int j = 0; j < 4; j++) {
                // sub-block 2j takes the low nibbles of bytes [32j, 32j + 32), sub-block 2j + 1 their high nibbles
                ShortVector v0 = uint8s(qs + 32L * j), v1 = uint8s(qs + 32L * j + 16);
                int xs = xo + 64 * j;
                IntVector lo = dot16(v1.and((short) 0x0f), x.q, xs + 16, dot16(v0.and((short) 0x0f), x.q, xs, IntVector.zero(I)));
                IntVector hi = dot16(v1.lanewise(LSHR, 4), x.q, xs + 48, dot16(v0.lanewise(LSHR, 4), x.q, xs + 32, IntVector.zero(I)));
                sum = sum.add(lo.mul(GgmlQuants.scaleK4(data, scales, 2 * j))).add(hi.mul(GgmlQuants.scaleK4(data, scales, 2 * j + 1)));
            }
            float dy = x.d[xo / QK];
            acc = scaled(sum, GgmlQuants.half(data, pos) * dy, acc);
            mins += GgmlQuants.half(data, pos + 2) * dy * minSum(x, xo, scales);
        }
        return acc.reduceLanes(VectorOperators.ADD) - mins;
    }

    /** Q4_K plus a fifth bit per value: bit {@code sub} of byte l of the 32 high-bit bytes, for value l of sub-block sub. */
    private float dotQ5K(long base, Input x, int xOff) {
        FloatVector acc = FloatVector.zero(F);
        float mins = 0;
        for (int b = 0; b < cols / QK; b++) {
            long pos = base + 176L * b, scales = pos + 4, qh = pos + 16, qs = pos + 48;
            int xo = xOff + QK * b;
            IntVector sum = IntVector.zero(I);
            ShortVector h0 = uint8s(qh), h1 = uint8s(qh + 16);
            for (int j = 0; j < 4; j++) {
                ShortVector v0 = uint8s(qs + 32L * j), v1 = uint8s(qs + 32L * j + 16);
                int xs = xo + 64 * j;
                IntVector lo = dot16(v1.and((short) 0x0f).or(h1.and((short) 1).lanewise(LSHL, 4)), x.q, xs + 16,
                        dot16(v0.and((short) 0x0f).or(h0.and((short) 1).lanewise(LSHL, 4)), x.q, xs, IntVector.zero(I)));
                IntVector hi = dot16(v1.lanewise(LSHR, 4).or(h1.and((short) 2).lanewise(LSHL, 3)), x.q, xs + 48,
                        dot16(v0.lanewise(LSHR, 4).or(h0.and((short) 2).lanewise(LSHL, 3)), x.q, xs + 32, IntVector.zero(I)));
                sum = sum.add(lo.mul(GgmlQuants.scaleK4(data, scales, 2 * j))).add(hi.mul(GgmlQuants.scaleK4(data, scales, 2 * j + 1)));
                h0 = h0.lanewise(LSHR, 2);
                h1 = h1.lanewise(LSHR, 2);
            }
            float dy = x.d[xo / QK];
            acc = scaled(sum, GgmlQuants.half(data, pos) * dy, acc);
            mins += GgmlQuants.half(data, pos + 2) * dy * minSum(x, xo, scales);
        }
        return acc.reduceLanes(VectorOperators.ADD) - mins;
    }

    /** {@code Σ_sub min[sub] · Σ x quants of sub}, from the input's sums of 16 quants (Q4_K/Q5_K). */
    private int minSum(Input x, int xo, long scales) {
        int m = 0;
        for (int j = 0; j < 16; j++) m += x.bsums[xo / 16 + j] * GgmlQuants.minK4(data, scales, j / 2);
        return m;
    }

    private float dotQ6K(long base, Input x, int xOff) {
        FloatVector acc = FloatVector.zero(F);
        for (int b = 0; b < cols / QK; b++) {
            long pos = base + 210L * b;
            int xo = xOff + QK * b;
            IntVector sum = IntVector.zero(I);
            for (int g = 0; g < 4; g++) {
                // half n = g / 2, h = g % 2: values l in [16h, 16h + 16) of its four quarters k (32 values each) take
                // the low (k < 2) or high nibble of ql[l + 32 (k % 2)] and bits 2k, 2k + 1 of qh[l], scale sc[h + 2k]
                int n = g / 2, h = g % 2;
                long ql = pos + 64L * n + 16L * h, sc = pos + 192 + 8L * n + h;
                int xs = xo + 128 * n + 16 * h;
                ShortVector hb = uint8s(pos + 128 + 32L * n + 16L * h);
                for (int k = 0; k < 2; k++) {
                    ShortVector q = uint8s(ql + 32L * k).and((short) 0x0f).or(hb.and((short) 3).lanewise(LSHL, 4)).sub((short) 32);
                    sum = sum.add(dot16(q, x.q, xs + 32 * k, IntVector.zero(I)).mul(scale(sc + 2 * k)));
                    hb = hb.lanewise(LSHR, 2);
                }
                for (int k = 2; k < 4; k++) {
                    ShortVector q = uint8s(ql + 32L * (k - 2)).lanewise(LSHR, 4).or(hb.and((short) 3).lanewise(LSHL, 4)).sub((short) 32);
                    sum = sum.add(dot16(q, x.q, xs + 32 * k, IntVector.zero(I)).mul(scale(sc + 2 * k)));
                    hb = hb.lanewise(LSHR, 2);
                }
            }
            acc = scaled(sum, GgmlQuants.half(data, pos + 208) * x.d[xo / QK], acc);
        }
        return acc.reduceLanes(VectorOperators.ADD);
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
