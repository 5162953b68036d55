package dev.nemoh.kernels;

import dev.nemoh.tensor.DType;
import dev.nemoh.tensor.Numerics;
import dev.nemoh.tensor.Tensor;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Weights used in their stored precision, straight from the checkpoint's mapping: bf16 and f32 are widened in
 * registers; f16 and fp8 element by element (fp8 via a 256-entry table).
 */
public record DenseWeights(Tensor tensor, int rows, int cols) implements WeightMatrix {
    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Short> S = VectorSpecies.of(short.class, VectorShape.forBitSize(F.vectorBitSize() / 2));
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(LE);
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(LE);
    private static final float[] E4M3 = new float[256];

    static {
        for (int b = 0; b < 256; b++) E4M3[b] = Numerics.e4m3ToFloat((byte) b);
    }

    public DenseWeights(Tensor tensor) {
        this(tensor, tensor.dim(0), Math.toIntExact(tensor.numel() / tensor.dim(0)));
    }

    @Override
    public String name() {
        return tensor.name();
    }

    @Override
    public long bytes() {
        return tensor.data().byteSize();
    }

    static FloatVector bf16(MemorySegment seg, long byteOffset) {
        ShortVector s = ShortVector.fromMemorySegment(S, seg, byteOffset, LE);
        IntVector i = (IntVector) s.convertShape(VectorOperators.S2I, I, 0);
        return i.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    /**
     * bf16 decode takes weight rows two at a time against the same input: two independent FMA chains instead of one
     * (a row's single accumulator bounds it by the FMA latency), each row's sum in {@link #dot}'s order and bits.
     * This streams the weights closer to the read bandwidth than one row at a time (docs/PERFORMANCE.md). Where
     * {@link NativeKernels} runs, its bf16 kernel does the same with a software
     * prefetch, which the Vector API lacks.
     */
    @Override
    public RowDots rowDots(float[] x, int rows) {
        if (tensor.dtype() != DType.BF16) return WeightMatrix.super.rowDots(x, rows);
        return new RowDots() {
            @Override
            public float dot(int row, int r) {
                return DenseWeights.this.dot(row, x, r * cols);
            }

            @Override
            public void dots(int o0, int o1, int n, float scale, float[] y, int out, boolean add) {
                if (NativeKernels.sameBitsAvailable()) {
                    NativeKernels.bf16Dots(tensor.data(), x, cols, n, o0, o1, scale, add, y, o0, out);
                    return;
                }
                for (int r = 0; r < n; r++) {
                    int o = o0;
                    for (; o + 1 < o1; o += 2) bf16Pair(o, x, r * cols, scale, add, y, r * out + o);
                    if (o < o1) {
                        float v = scale * dot(o, r);
                        y[r * out + o] = add ? y[r * out + o] + v : v;
                    }
                }
            }
        };
    }

    /** {@code y[at + k] (+)= scale · dot(row + k, x, xOff)} for k = 0, 1, with bf16 weights. */
    private void bf16Pair(int row, float[] x, int xOff, float scale, boolean add, float[] y, int at) {
        MemorySegment seg = tensor.data();
        long base0 = (long) row * cols, base1 = base0 + cols;
        FloatVector acc0 = FloatVector.zero(F), acc1 = FloatVector.zero(F);
        int i = 0;
        for (int bound = F.loopBound(cols); i < bound; i += F.length()) {
            FloatVector u = FloatVector.fromArray(F, x, xOff + i);
            acc0 = u.fma(bf16(seg, (base0 + i) * 2), acc0);
            acc1 = u.fma(bf16(seg, (base1 + i) * 2), acc1);
        }
        float s0 = Vec.sum(acc0), s1 = Vec.sum(acc1);
        for (; i < cols; i++) {
            s0 += x[xOff + i] * tensor.getFloat(base0 + i);
            s1 += x[xOff + i] * tensor.getFloat(base1 + i);
        }
        y[at] = add ? y[at] + scale * s0 : scale * s0;
        y[at + 1] = add ? y[at + 1] + scale * s1 : scale * s1;
    }

    @Override
    public float dot(int row, float[] x, int xOff) {
        MemorySegment seg = tensor.data();
        long base = (long) row * cols;
        FloatVector acc = FloatVector.zero(F);
        int i = 0;
        int bound = F.loopBound(cols);
        switch (tensor.dtype()) {
            case BF16 -> {
                for (; i < bound; i += F.length()) acc = FloatVector.fromArray(F, x, xOff + i).fma(bf16(seg, (base + i) * 2), acc);
            }
            case F32 -> {
                for (; i < bound; i += F.length()) {
                    acc = FloatVector.fromArray(F, x, xOff + i).fma(FloatVector.fromMemorySegment(F, seg, (base + i) * 4, LE), acc);
                }
            }
            case F8_E4M3 -> {
                float s = 0;
                for (int k = 0; k < cols; k++) s += x[xOff + k] * E4M3[seg.get(ValueLayout.JAVA_BYTE, base + k) & 0xff];
                return s;
            }
            default -> {
                float s = 0;
                for (int k = 0; k < cols; k++) s += x[xOff + k] * tensor.getFloat(base + k);
                return s;
            }
        }
        // Vec.sum, not reduceLanes: the same rounding in every JIT tier (training reads frozen weights through here)
        float s = Vec.sum(acc);
        for (; i < cols; i++) s += x[xOff + i] * tensor.getFloat(base + i);
        return s;
    }

    @Override
    public void widen(int first, int n, float[] dst) {
        widenRange((long) first * cols, n * cols, dst, 0);
    }

    @Override
    public void widen(int row, int first, int n, float[] dst, int dstOff) {
        widenRange((long) row * cols + first, n, dst, dstOff);
    }

    /** Elements [start, start + len) of the flat matrix as float32 into dst from dstOff. */
    private void widenRange(long start, int len, float[] dst, int dstOff) {
        MemorySegment seg = tensor.data();
        switch (tensor.dtype()) {
            case F32 -> MemorySegment.copy(seg, FLOAT, start * 4, dst, dstOff, len);
            case BF16 -> {
                int i = 0;
                for (int bound = F.loopBound(len); i < bound; i += F.length()) bf16(seg, (start + i) * 2).intoArray(dst, dstOff + i);
                for (; i < len; i++) dst[dstOff + i] = Numerics.bf16ToFloat(seg.get(SHORT, (start + i) * 2));
            }
            case F8_E4M3 -> {
                for (int i = 0; i < len; i++) dst[dstOff + i] = E4M3[seg.get(ValueLayout.JAVA_BYTE, start + i) & 0xff];
            }
            default -> {
                for (int i = 0; i < len; i++) dst[dstOff + i] = tensor.getFloat(start + i);
            }
        }
    }
}
