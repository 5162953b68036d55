package dev.nemoh.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * A read-only tensor over bytes that usually stay in a memory-mapped checkpoint: name, element type, shape and data.
 * Elements are little-endian, row-major.
 */
public record Tensor(String name, DType dtype, long[] shape, MemorySegment data) {
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble DOUBLE = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    public static long numel(long[] shape) {
        long n = 1;
        for (long d : shape) n *= d;
        return n;
    }

    public long numel() {
        return numel(shape);
    }

    public int rank() {
        return shape.length;
    }

    public int dim(int i) {
        return Math.toIntExact(shape[i < 0 ? shape.length + i : i]);
    }

    public String shapeString() {
        return Arrays.toString(shape);
    }

    /** Element {@code i} (flat index) as float, for every floating and integer type. */
    public float getFloat(long i) {
        return switch (dtype) {
            case F32 -> data.get(FLOAT, i * 4);
            case BF16 -> Numerics.bf16ToFloat(data.get(SHORT, i * 2));
            case F16 -> Float.float16ToFloat(data.get(SHORT, i * 2));
            case F64 -> (float) data.get(DOUBLE, i * 8);
            case F8_E4M3 -> Numerics.e4m3ToFloat(data.get(ValueLayout.JAVA_BYTE, i));
            case F8_E5M2 -> Numerics.e5m2ToFloat(data.get(ValueLayout.JAVA_BYTE, i));
            case I64 -> data.get(LONG, i * 8);
            case I32 -> data.get(INT, i * 4);
            case I16 -> data.get(SHORT, i * 2);
            case I8 -> data.get(ValueLayout.JAVA_BYTE, i);
            case U8, BOOL -> data.get(ValueLayout.JAVA_BYTE, i) & 0xff;
            case Q4_0, Q8_0, Q4_K, Q5_K, Q6_K -> GgmlQuants.get(dtype, data, i);
        };
    }

    /** Values [first, first + n) as float32 into dst from dstOff (block types: whole blocks). */
    public void readFloats(long first, int n, float[] dst, int dstOff) {
        if (dtype.isBlock()) {
            GgmlQuants.dequantize(dtype, data, first, n, dst, dstOff);
        } else {
            for (int i = 0; i < n; i++) dst[dstOff + i] = getFloat(first + i);
        }
    }

    public double getDouble(long i) {
        return dtype == DType.F64 ? data.get(DOUBLE, i * 8) : getFloat(i);
    }

    public long getLong(long i) {
        return switch (dtype) {
            case I64 -> data.get(LONG, i * 8);
            case I32 -> data.get(INT, i * 4);
            case I16 -> data.get(SHORT, i * 2);
            case I8 -> data.get(ValueLayout.JAVA_BYTE, i);
            case U8, BOOL -> data.get(ValueLayout.JAVA_BYTE, i) & 0xff;
            default -> throw new IllegalStateException(name + " is " + dtype + ", not an integer tensor");
        };
    }

    public float[] toFloatArray() {
        int n = Math.toIntExact(numel());
        float[] out = new float[n];
        if (dtype == DType.F32) {
            MemorySegment.copy(data, FLOAT, 0, out, 0, n);
        } else if (dtype.isBlock()) {
            GgmlQuants.dequantize(dtype, data, 0, n, out, 0);
        } else {
            for (int i = 0; i < n; i++) out[i] = getFloat(i);
        }
        return out;
    }

    public double[] toDoubleArray() {
        int n = Math.toIntExact(numel());
        double[] out = new double[n];
        for (int i = 0; i < n; i++) out[i] = getDouble(i);
        return out;
    }

    public long[] toLongArray() {
        int n = Math.toIntExact(numel());
        long[] out = new long[n];
        for (int i = 0; i < n; i++) out[i] = getLong(i);
        return out;
    }

    public int[] toIntArray() {
        long[] l = toLongArray();
        int[] out = new int[l.length];
        for (int i = 0; i < l.length; i++) out[i] = Math.toIntExact(l[i]);
        return out;
    }

    private static void checkFills(String name, int values, long[] shape) {
        if (numel(shape) != values) {
            throw new IllegalArgumentException(name + ": " + values + " values do not fill shape " + Arrays.toString(shape));
        }
    }

    /** A float32 tensor held in a heap segment (for results, tests and writers). */
    public static Tensor ofFloats(String name, float[] values, long... shape) {
        checkFills(name, values.length, shape);
        MemorySegment seg = MemorySegment.ofArray(new byte[values.length * 4]);
        MemorySegment.copy(values, 0, seg, FLOAT, 0, values.length);
        return new Tensor(name, DType.F32, shape.clone(), seg);
    }

    public static Tensor ofLongs(String name, long[] values, long... shape) {
        checkFills(name, values.length, shape);
        MemorySegment seg = MemorySegment.ofArray(new byte[values.length * 8]);
        MemorySegment.copy(values, 0, seg, LONG, 0, values.length);
        return new Tensor(name, DType.I64, shape.clone(), seg);
    }

    /** The same values rounded to bfloat16 (round to nearest even), as torch's {@code .to(torch.bfloat16)}. */
    public static Tensor ofBf16(String name, float[] values, long... shape) {
        checkFills(name, values.length, shape);
        MemorySegment seg = MemorySegment.ofArray(new byte[values.length * 2]);
        for (int i = 0; i < values.length; i++) seg.set(SHORT, 2L * i, Numerics.floatToBf16(values[i]));
        return new Tensor(name, DType.BF16, shape.clone(), seg);
    }
}
