package dev.nemoh.tensor;

/**
 * Element types of tensors: those of safetensors files, by their header names, and GGML's block-quantized types,
 * which only GGUF files hold ({@link #blockSize} values share {@link #blockBytes} bytes; see {@link GgmlQuants}).
 */
public enum DType {
    F64(8), F32(4), F16(2), BF16(2), F8_E4M3(1), F8_E5M2(1), I64(8), I32(4), I16(2), I8(1), U8(1), BOOL(1),
    Q4_0(32, 18), Q8_0(32, 34), Q4_K(256, 144), Q5_K(256, 176), Q6_K(256, 210);

    /** Bytes per element; 0 for block types. */
    public final int bytes;
    /** Values per block: 1 for element types. */
    public final int blockSize;
    public final int blockBytes;

    DType(int bytes) {
        this(1, bytes);
    }

    DType(int blockSize, int blockBytes) {
        this.blockSize = blockSize;
        this.blockBytes = blockBytes;
        this.bytes = blockSize == 1 ? blockBytes : 0;
    }

    public boolean isBlock() {
        return blockSize > 1;
    }

    public boolean isFloat() {
        return switch (this) {
            case I64, I32, I16, I8, U8, BOOL -> false;
            default -> true;
        };
    }

    /** Bytes of {@code n} values (for block types, n a multiple of {@link #blockSize}). */
    public long byteSize(long n) {
        if (n % blockSize != 0) throw new IllegalArgumentException(this + " holds whole blocks of " + blockSize + " values, not " + n);
        return n / blockSize * blockBytes;
    }

    /** Parses a safetensors dtype name, or null when unknown (block types are not safetensors types). */
    public static DType parse(String name) {
        for (DType d : values()) {
            if (!d.isBlock() && d.name().equals(name)) return d;
        }
        return null;
    }
}
