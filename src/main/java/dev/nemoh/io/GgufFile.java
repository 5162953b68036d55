package dev.nemoh.io;

import dev.nemoh.tensor.DType;
import dev.nemoh.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A GGUF file (versions 2 and 3), memory-mapped: the layout {@link GgufWriter} describes, read back. Metadata values
 * become Long (every integer type), Double (float32/64), Boolean, String or List of those; tensors become
 * {@link Tensor} views into the mapping with their dimensions in PyTorch order (GGUF lists them innermost first), in
 * F32, F16, BF16 or one of GGML's block types ({@link DType#isBlock}). A tensor of another GGML type is refused by
 * name when it is read.
 */
public final class GgufFile implements AutoCloseable {
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** GGML's type names by id (ggml.h's ggml_type), for the types nemoh reads and for naming the others. */
    private static final Map<Integer, String> GGML_TYPE_NAMES = Map.ofEntries(
            Map.entry(0, "F32"), Map.entry(1, "F16"), Map.entry(2, "Q4_0"), Map.entry(3, "Q4_1"), Map.entry(6, "Q5_0"),
            Map.entry(7, "Q5_1"), Map.entry(8, "Q8_0"), Map.entry(9, "Q8_1"), Map.entry(10, "Q2_K"), Map.entry(11, "Q3_K"),
            Map.entry(12, "Q4_K"), Map.entry(13, "Q5_K"), Map.entry(14, "Q6_K"), Map.entry(15, "Q8_K"),
            Map.entry(16, "IQ2_XXS"), Map.entry(17, "IQ2_XS"), Map.entry(18, "IQ3_XXS"), Map.entry(19, "IQ1_S"),
            Map.entry(20, "IQ4_NL"), Map.entry(21, "IQ3_S"), Map.entry(22, "IQ2_S"), Map.entry(23, "IQ4_XS"),
            Map.entry(24, "I8"), Map.entry(25, "I16"), Map.entry(26, "I32"), Map.entry(27, "I64"), Map.entry(28, "F64"),
            Map.entry(29, "IQ1_M"), Map.entry(30, "BF16"), Map.entry(34, "TQ1_0"), Map.entry(35, "TQ2_0"),
            Map.entry(39, "MXFP4"));
    /** The GGML types nemoh reads, with their element types. */
    private static final Map<Integer, DType> READ = Map.of(0, DType.F32, 1, DType.F16, 30, DType.BF16, 2, DType.Q4_0,
            8, DType.Q8_0, 12, DType.Q4_K, 13, DType.Q5_K, 14, DType.Q6_K);
    /** Strings and arrays longer than this are not real metadata (a corrupt length). */
    private static final long MAX_LENGTH = 1L << 31;

    /** One tensor's record: its name, GGML type id, dimensions (innermost first) and bytes. */
    public record TensorInfo(String name, int ggmlType, long[] ne, MemorySegment data) {
        public String typeName() {
            return GGML_TYPE_NAMES.getOrDefault(ggmlType, "type " + ggmlType);
        }
    }

    private final Path path;
    private final Arena arena;
    private final Map<String, Object> metadata;
    private final Map<String, TensorInfo> tensors;

    private GgufFile(Path path, Arena arena, Map<String, Object> metadata, Map<String, TensorInfo> tensors) {
        this.path = path;
        this.arena = arena;
        this.metadata = metadata;
        this.tensors = tensors;
    }

    public static GgufFile open(Path path) {
        return MappedFile.open(path, (file, arena) -> {
            Reader r = new Reader(path, file);
            if (file.byteSize() < 24 || r.int32() != GgufWriter.MAGIC) {
                throw new CheckpointException(path + " is not a GGUF file (no \"GGUF\" magic at its start)");
            }
            int version = r.int32();
            if (version != 2 && version != 3) {
                throw new CheckpointException(path + " is GGUF version " + version + "; nemoh reads versions 2 and 3");
            }
            long tensorCount = r.count(), kvCount = r.count();
            Map<String, Object> metadata = new LinkedHashMap<>();
            for (long i = 0; i < kvCount; i++) {
                String key = r.string();
                metadata.put(key, r.value(r.int32()));
            }
            record Info(String name, int type, long[] ne, long offset) {}
            List<Info> infos = new ArrayList<>();
            for (long i = 0; i < tensorCount; i++) {
                String name = r.string();
                int dims = r.int32();
                if (dims < 1 || dims > 4) throw r.corrupt("tensor " + name + " has " + dims + " dimensions");
                long[] ne = new long[dims];
                for (int d = 0; d < dims; d++) ne[d] = r.count();
                infos.add(new Info(name, r.int32(), ne, r.int64()));
            }
            long alignment = metadata.get("general.alignment") instanceof Long a && a > 0 ? a : GgufWriter.ALIGNMENT;
            long dataStart = (r.pos + alignment - 1) / alignment * alignment;
            Map<String, TensorInfo> tensors = new LinkedHashMap<>();
            for (Info info : infos) {
                DType t = READ.get(info.type);
                long n = Tensor.numel(info.ne);
                long bytes = t != null && n % t.blockSize == 0 ? t.byteSize(n) : 0;
                long start = dataStart + info.offset;
                if (info.offset < 0 || start + bytes > file.byteSize()) {
                    throw new CheckpointException(path + " is truncated: tensor " + info.name + " ends past the end of the"
                            + " file; download it again");
                }
                tensors.put(info.name, new TensorInfo(info.name, info.type, info.ne, file.asSlice(start, bytes)));
            }
            return new GgufFile(path, arena, Collections.unmodifiableMap(metadata), Collections.unmodifiableMap(tensors));
        });
    }

    public Path path() {
        return path;
    }

    public Map<String, Object> metadata() {
        return metadata;
    }

    public Map<String, TensorInfo> tensors() {
        return tensors;
    }

    /** A metadata value, or null. */
    public Object get(String key) {
        return metadata.get(key);
    }

    /** A required metadata value of type {@code type}; a missing or mistyped one is named. */
    public <T> T require(String key, Class<T> type) {
        Object v = metadata.get(key);
        if (v == null) throw new CheckpointException(path + " has no metadata key " + key + "; it was not written for this architecture");
        if (!type.isInstance(v)) throw new CheckpointException(path + ": metadata " + key + " is " + v.getClass().getSimpleName() + ", not " + type.getSimpleName());
        return type.cast(v);
    }

    /** An integer key, or {@code orElse} when absent. */
    public long integer(String key, long orElse) {
        return metadata.get(key) == null ? orElse : require(key, Long.class);
    }

    /**
     * The tensor {@code name} as a {@link Tensor} of PyTorch shape {@code shape} (same values, row-major), read in
     * place; a missing tensor, another element count or a GGML type nemoh does not read is named.
     */
    public Tensor tensor(String name, long... shape) {
        TensorInfo info = tensors.get(name);
        if (info == null) throw new CheckpointException("tensor " + name + " is missing from " + path);
        DType t = READ.get(info.ggmlType);
        if (t == null) {
            throw new CheckpointException(path + ": tensor " + name + " is " + info.typeName() + ", which nemoh does not read;"
                    + " supported: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K (requantize with llama-quantize)");
        }
        if (Tensor.numel(info.ne) != Tensor.numel(shape)) {
            throw new CheckpointException(path + ": tensor " + name + " has GGUF dimensions " + java.util.Arrays.toString(info.ne)
                    + " but the metadata implies " + java.util.Arrays.toString(shape) + "; the file is inconsistent");
        }
        return new Tensor(name, t, shape.clone(), info.data);
    }

    /** The tensor's GGUF dimensions innermost first, or null when the file lacks it. */
    public long[] dims(String name) {
        TensorInfo info = tensors.get(name);
        return info == null ? null : info.ne.clone();
    }

    @Override
    public void close() {
        arena.close();
    }

    /** Reads the header front to back. */
    private static final class Reader {
        final Path path;
        final MemorySegment file;
        long pos;

        Reader(Path path, MemorySegment file) {
            this.path = path;
            this.file = file;
        }

        CheckpointException corrupt(String what) {
            return new CheckpointException(path + " is corrupt or truncated: " + what + " (at byte " + pos + "); download it again");
        }

        private void need(long n) {
            if (n < 0 || pos + n > file.byteSize()) throw corrupt("the header runs past the end of the file");
        }

        int int32() {
            need(4);
            int v = file.get(INT, pos);
            pos += 4;
            return v;
        }

        long int64() {
            need(8);
            long v = file.get(LONG, pos);
            pos += 8;
            return v;
        }

        /** A uint64 count or length, checked for sanity. */
        long count() {
            long n = int64();
            if (n < 0 || n > MAX_LENGTH) throw corrupt("a count of " + Long.toUnsignedString(n));
            return n;
        }

        String string() {
            long n = count();
            need(n);
            byte[] b = file.asSlice(pos, n).toArray(ValueLayout.JAVA_BYTE);
            pos += n;
            return new String(b, StandardCharsets.UTF_8);
        }

        Object value(int type) {
            return switch (type) {
                case 0 -> { need(1); yield (long) (file.get(ValueLayout.JAVA_BYTE, pos++) & 0xff); }
                case 1 -> { need(1); yield (long) file.get(ValueLayout.JAVA_BYTE, pos++); }
                case 2 -> { int v = int16(); yield (long) (v & 0xffff); }
                case 3 -> (long) (short) int16();
                case 4 -> Integer.toUnsignedLong(int32());
                case 5 -> (long) int32();
                case 6 -> (double) Float.intBitsToFloat(int32());
                case 7 -> { need(1); yield file.get(ValueLayout.JAVA_BYTE, pos++) != 0; }
                case 8 -> string();
                case 9 -> {
                    int elem = int32();
                    long n = count();
                    List<Object> list = new ArrayList<>((int) Math.min(n, 1 << 20));
                    for (long i = 0; i < n; i++) list.add(value(elem));
                    yield list;
                }
                case 10, 11 -> int64();
                case 12 -> Double.longBitsToDouble(int64());
                default -> throw corrupt("metadata value type " + type);
            };
        }

        private int int16() {
            need(2);
            int v = file.get(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), pos);
            pos += 2;
            return v;
        }
    }
}
