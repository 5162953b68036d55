package dev.nemoh.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A minimal GGUF v3 reader for tests, written from the format description (not from {@link GgufWriter}'s code):
 * integers come back as Long, floats as Float/Double, booleans, strings, and arrays as lists.
 */
public final class GgufReader {
    public record TensorInfo(String name, long[] ne, int type, long offset) {}

    public final int version;
    public final Map<String, Object> metadata = new LinkedHashMap<>();
    /** The value type id of each key (arrays: 9). */
    public final Map<String, Integer> types = new LinkedHashMap<>();
    public final Map<String, TensorInfo> tensors = new LinkedHashMap<>();
    public final long dataStart;
    private final ByteBuffer buf;

    public GgufReader(Path file) throws IOException {
        buf = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        byte[] magic = new byte[4];
        buf.get(magic);
        if (!"GGUF".equals(new String(magic, StandardCharsets.US_ASCII))) throw new IOException("bad magic");
        version = buf.getInt();
        long nTensors = buf.getLong();
        long nKv = buf.getLong();
        for (long i = 0; i < nKv; i++) {
            String key = string();
            int type = buf.getInt();
            types.put(key, type);
            metadata.put(key, value(type));
        }
        for (long i = 0; i < nTensors; i++) {
            String name = string();
            long[] ne = new long[buf.getInt()];
            for (int d = 0; d < ne.length; d++) ne[d] = buf.getLong();
            tensors.put(name, new TensorInfo(name, ne, buf.getInt(), buf.getLong()));
        }
        long alignment = metadata.containsKey("general.alignment") ? ((Number) metadata.get("general.alignment")).longValue() : 32;
        dataStart = (buf.position() + alignment - 1) / alignment * alignment;
    }

    private String string() {
        byte[] b = new byte[Math.toIntExact(buf.getLong())];
        buf.get(b);
        return new String(b, StandardCharsets.UTF_8);
    }

    private Object value(int type) {
        return switch (type) {
            case 0 -> (long) (buf.get() & 0xff);
            case 1 -> (long) buf.get();
            case 2 -> (long) (buf.getShort() & 0xffff);
            case 3 -> (long) buf.getShort();
            case 4 -> buf.getInt() & 0xffffffffL;
            case 5 -> (long) buf.getInt();
            case 6 -> buf.getFloat();
            case 7 -> buf.get() != 0;
            case 8 -> string();
            case 9 -> {
                int elementType = buf.getInt();
                long n = buf.getLong();
                List<Object> list = new ArrayList<>();
                for (long i = 0; i < n; i++) list.add(value(elementType));
                yield list;
            }
            case 10, 11 -> buf.getLong();
            case 12 -> buf.getDouble();
            default -> throw new IllegalStateException("unknown GGUF value type " + type);
        };
    }

    public long integer(String key) {
        return ((Number) metadata.get(key)).longValue();
    }

    /** The bytes of a tensor (size from its type and dimensions), little-endian. */
    public ByteBuffer data(String name) {
        TensorInfo t = tensors.get(name);
        long n = 1;
        for (long d : t.ne) n *= d;
        long bytes = switch (t.type) {
            case 0 -> n * 4;
            case 1, 30 -> n * 2;
            case 8 -> n / 32 * 34;
            default -> throw new IllegalStateException("type " + t.type);
        };
        return buf.slice(Math.toIntExact(dataStart + t.offset), Math.toIntExact(bytes)).order(ByteOrder.LITTLE_ENDIAN);
    }

    /** Bytes in the file. */
    public long fileSize() {
        return buf.capacity();
    }
}
