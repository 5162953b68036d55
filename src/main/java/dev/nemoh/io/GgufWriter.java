package dev.nemoh.io;

import java.io.ByteArrayOutputStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;

/**
 * Writes GGUF version 3, the file format of GGML and llama.cpp: the magic {@code "GGUF"}, the version, the tensor and
 * metadata counts, the metadata key/value pairs, one info record per tensor (name, dimensions innermost first, GGML
 * type, offset into the data section), then the tensor data, each tensor starting on a multiple of
 * {@link #ALIGNMENT}. All numbers are little-endian; strings are a uint64 byte length and UTF-8 bytes without a
 * terminator. Tensor bytes are written in place into the memory-mapped output ({@link MappedOutput}).
 */
public final class GgufWriter {
    /** "GGUF" read as a little-endian uint32. */
    public static final int MAGIC = 0x46554747;
    public static final int VERSION = 3;
    /** general.alignment's default, which this writer uses. */
    public static final int ALIGNMENT = 32;

    /** GGML tensor types this writer produces: GGML's type id, and bytes per block of {@code blockSize} values. */
    public enum TensorType {
        F32(0, 1, 4), F16(1, 1, 2), Q8_0(8, 32, 34), BF16(30, 1, 2);

        public final int id;
        public final int blockSize;
        public final int blockBytes;

        TensorType(int id, int blockSize, int blockBytes) {
            this.id = id;
            this.blockSize = blockSize;
            this.blockBytes = blockBytes;
        }

        /** Bytes of a row of {@code n} values; blocks never span rows. */
        public long rowBytes(long n) {
            if (n % blockSize != 0) throw new IllegalArgumentException(this + " rows must hold a multiple of " + blockSize + " values, not " + n);
            return n / blockSize * blockBytes;
        }
    }

    /** Metadata value types, by their GGUF ids. */
    public enum ValueType {
        UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, FLOAT64;

        public int id() {
            return ordinal();
        }
    }

    private record TensorEntry(String name, TensorType type, long[] ne, long bytes, Consumer<MemorySegment> fill) {}

    /** Each value already encoded: its type id followed by its payload. */
    private final Map<String, byte[]> metadata = new LinkedHashMap<>();
    private final List<TensorEntry> tensors = new ArrayList<>();
    private final Set<String> names = new HashSet<>();

    public GgufWriter putString(String key, String value) {
        return put(key, ValueType.STRING, out -> out.string(value));
    }

    public GgufWriter putUint32(String key, int value) {
        return put(key, ValueType.UINT32, out -> out.int32(value));
    }

    public GgufWriter putInt32(String key, int value) {
        return put(key, ValueType.INT32, out -> out.int32(value));
    }

    public GgufWriter putFloat32(String key, float value) {
        return put(key, ValueType.FLOAT32, out -> out.int32(Float.floatToRawIntBits(value)));
    }

    public GgufWriter putBool(String key, boolean value) {
        return put(key, ValueType.BOOL, out -> out.write(value ? 1 : 0));
    }

    public GgufWriter putInt32Array(String key, int[] values) {
        return put(key, ValueType.ARRAY, out -> {
            out.int32(ValueType.INT32.id());
            out.int64(values.length);
            for (int v : values) out.int32(v);
        });
    }

    public GgufWriter putStringArray(String key, List<String> values) {
        return put(key, ValueType.ARRAY, out -> {
            out.int32(ValueType.STRING.id());
            out.int64(values.size());
            for (String v : values) out.string(v);
        });
    }

    private GgufWriter put(String key, ValueType type, Consumer<Bytes> payload) {
        Bytes out = new Bytes();
        out.int32(type.id());
        payload.accept(out);
        metadata.put(key, out.toByteArray());
        return this;
    }

    /**
     * Adds a tensor of GGML dimensions {@code ne} (innermost first: a PyTorch [rows, cols] matrix is {cols, rows})
     * whose bytes {@code fill} writes into the segment it is given (exactly the tensor's size).
     */
    public GgufWriter add(String name, TensorType type, long[] ne, Consumer<MemorySegment> fill) {
        if (!names.add(name)) throw new IllegalArgumentException("tensor " + name + " added twice");
        long rows = 1;
        for (int i = 1; i < ne.length; i++) rows *= ne[i];
        tensors.add(new TensorEntry(name, type, ne.clone(), rows * type.rowBytes(ne[0]), fill));
        return this;
    }

    public int tensorCount() {
        return tensors.size();
    }

    public void write(Path path) {
        Bytes header = new Bytes();
        header.int32(MAGIC);
        header.int32(VERSION);
        header.int64(tensors.size());
        header.int64(metadata.size());
        metadata.forEach((key, value) -> {
            header.string(key);
            header.writeBytes(value);
        });
        long[] offsets = new long[tensors.size()];
        long offset = 0;
        for (int i = 0; i < tensors.size(); i++) {
            TensorEntry t = tensors.get(i);
            header.string(t.name);
            header.int32(t.ne.length);
            for (long d : t.ne) header.int64(d);
            header.int32(t.type.id);
            header.int64(offset);
            offsets[i] = offset;
            offset = align(offset + t.bytes);
        }
        byte[] head = header.toByteArray();
        long dataStart = align(head.length);
        MappedOutput.write(path, dataStart + offset, file -> {
            MemorySegment.copy(head, 0, file, ValueLayout.JAVA_BYTE, 0, head.length);
            for (int i = 0; i < tensors.size(); i++) {
                TensorEntry t = tensors.get(i);
                t.fill.accept(file.asSlice(dataStart + offsets[i], t.bytes));
            }
        });
    }

    private static long align(long n) {
        return (n + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT;
    }

    /** A growable little-endian byte buffer. */
    private static final class Bytes extends ByteArrayOutputStream {
        void int32(int v) {
            for (int i = 0; i < 4; i++) write(v >>> (8 * i));
        }

        void int64(long v) {
            for (int i = 0; i < 8; i++) write((int) (v >>> (8 * i)));
        }

        void string(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            int64(b.length);
            writeBytes(b);
        }
    }
}
