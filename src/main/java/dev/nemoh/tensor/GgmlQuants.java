package dev.nemoh.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * GGML's block-quantized formats, decoded to float32 as ggml-quants.c's {@code dequantize_row_*} do. Every block
 * starts with or ends in float16 scales; the rest are quants:
 * <ul>
 * <li>Q8_0: 32 values, {@code d} then 32 int8 quants; {@code w = d · q}.
 * <li>Q4_0: 32 values, {@code d} then 16 bytes whose low nibble is value j and high nibble value j + 16;
 *     {@code w = d · (q - 8)}.
 * <li>Q4_K: 256 values in 8 sub-blocks of 32: {@code d}, {@code dmin}, 12 bytes of 6-bit sub-block scales and mins,
 *     128 bytes of nibbles (each 32 bytes hold two sub-blocks: low nibbles, then high); {@code w = d·sc · q - dmin·m}.
 * <li>Q5_K: as Q4_K plus 32 bytes of fifth bits (bit 2k of byte l for value l of sub-block 2k, bit 2k+1 for
 *     sub-block 2k+1), before the nibbles.
 * <li>Q6_K: 256 values in 16 sub-blocks of 16: 128 bytes of low nibbles, 64 of two-bit high parts, 16 int8 scales,
 *     then {@code d}; {@code w = d · sc · (q - 32)}.
 * </ul>
 */
public final class GgmlQuants {
    private GgmlQuants() {}

    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Values per K-quant super-block (GGML's QK_K). */
    public static final int QK_K = 256;

    /** The float16 at byte {@code pos}. */
    public static float half(MemorySegment s, long pos) {
        return Float.float16ToFloat(s.get(SHORT, pos));
    }

    static int u8(MemorySegment s, long pos) {
        return s.get(ValueLayout.JAVA_BYTE, pos) & 0xff;
    }

    /** Value {@code i} (flat index) of a tensor of type t. */
    static float get(DType t, MemorySegment data, long i) {
        float[] block = new float[t.blockSize];
        long b = i / t.blockSize;
        dequantize(t, data, b * t.blockSize, t.blockSize, block, 0);
        return block[(int) (i - b * t.blockSize)];
    }

    /** Writes values [first, first + n) (whole blocks) of a tensor of type t into dst from dstOff. */
    public static void dequantize(DType t, MemorySegment data, long first, int n, float[] dst, int dstOff) {
        if (first % t.blockSize != 0 || n % t.blockSize != 0) {
            throw new IllegalArgumentException(t + " decodes whole blocks of " + t.blockSize + " values");
        }
        for (int k = 0; k < n; k += t.blockSize) {
            long pos = (first + k) / t.blockSize * t.blockBytes;
            switch (t) {
                case Q8_0 -> q8_0(data, pos, dst, dstOff + k);
                case Q4_0 -> q4_0(data, pos, dst, dstOff + k);
                case Q4_K -> q4K(data, pos, dst, dstOff + k);
                case Q5_K -> q5K(data, pos, dst, dstOff + k);
                case Q6_K -> q6K(data, pos, dst, dstOff + k);
                default -> throw new IllegalArgumentException(t + " is not a block-quantized type");
            }
        }
    }

    private static void q8_0(MemorySegment s, long pos, float[] y, int off) {
        float d = half(s, pos);
        for (int j = 0; j < 32; j++) y[off + j] = d * s.get(ValueLayout.JAVA_BYTE, pos + 2 + j);
    }

    private static void q4_0(MemorySegment s, long pos, float[] y, int off) {
        float d = half(s, pos);
        for (int j = 0; j < 16; j++) {
            int v = u8(s, pos + 2 + j);
            y[off + j] = d * ((v & 0x0f) - 8);
            y[off + j + 16] = d * ((v >>> 4) - 8);
        }
    }

    /**
     * The 6-bit scale (index 0) and min (index 1) of sub-block j of a Q4_K/Q5_K super-block whose 12 scale bytes
     * start at {@code scales}, as ggml's get_scale_min_k4.
     */
    public static int scaleK4(MemorySegment s, long scales, int j) {
        return j < 4 ? u8(s, scales + j) & 63 : (u8(s, scales + j + 4) & 0xf) | ((u8(s, scales + j - 4) >>> 6) << 4);
    }

    public static int minK4(MemorySegment s, long scales, int j) {
        return j < 4 ? u8(s, scales + j + 4) & 63 : (u8(s, scales + j + 4) >>> 4) | ((u8(s, scales + j) >>> 6) << 4);
    }

    private static void q4K(MemorySegment s, long pos, float[] y, int off) {
        float d = half(s, pos), min = half(s, pos + 2);
        long scales = pos + 4, q = pos + 16;
        for (int j = 0; j < 4; j++) {
            float d1 = d * scaleK4(s, scales, 2 * j), m1 = min * minK4(s, scales, 2 * j);
            float d2 = d * scaleK4(s, scales, 2 * j + 1), m2 = min * minK4(s, scales, 2 * j + 1);
            for (int l = 0; l < 32; l++) {
                int v = u8(s, q + 32L * j + l);
                y[off + 64 * j + l] = d1 * (v & 0xf) - m1;
                y[off + 64 * j + 32 + l] = d2 * (v >>> 4) - m2;
            }
        }
    }

    private static void q5K(MemorySegment s, long pos, float[] y, int off) {
        float d = half(s, pos), min = half(s, pos + 2);
        long scales = pos + 4, qh = pos + 16, ql = pos + 48;
        for (int j = 0; j < 4; j++) {
            float d1 = d * scaleK4(s, scales, 2 * j), m1 = min * minK4(s, scales, 2 * j);
            float d2 = d * scaleK4(s, scales, 2 * j + 1), m2 = min * minK4(s, scales, 2 * j + 1);
            for (int l = 0; l < 32; l++) {
                int v = u8(s, ql + 32L * j + l), h = u8(s, qh + l);
                y[off + 64 * j + l] = d1 * ((v & 0xf) + ((h >>> (2 * j)) & 1) * 16) - m1;
                y[off + 64 * j + 32 + l] = d2 * ((v >>> 4) + ((h >>> (2 * j + 1)) & 1) * 16) - m2;
            }
        }
    }

    private static void q6K(MemorySegment s, long pos, float[] y, int off) {
        float d = half(s, pos + 208);
        for (int n = 0; n < 2; n++) {
            long ql = pos + 64L * n, qh = pos + 128 + 32L * n, sc = pos + 192 + 8L * n;
            for (int l = 0; l < 32; l++) {
                int is = l / 16;
                int lo0 = u8(s, ql + l), lo1 = u8(s, ql + l + 32), h = u8(s, qh + l);
                int q1 = ((lo0 & 0xf) | ((h & 3) << 4)) - 32;
                int q2 = ((lo1 & 0xf) | (((h >>> 2) & 3) << 4)) - 32;
                int q3 = ((lo0 >>> 4) | (((h >>> 4) & 3) << 4)) - 32;
                int q4 = ((lo1 >>> 4) | (((h >>> 6) & 3) << 4)) - 32;
                int o = off + 128 * n + l;
                y[o] = d * s.get(ValueLayout.JAVA_BYTE, sc + is) * q1;
                y[o + 32] = d * s.get(ValueLayout.JAVA_BYTE, sc + is + 2) * q2;
                y[o + 64] = d * s.get(ValueLayout.JAVA_BYTE, sc + is + 4) * q3;
                y[o + 96] = d * s.get(ValueLayout.JAVA_BYTE, sc + is + 6) * q4;
            }
        }
    }
}
