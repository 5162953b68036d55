package dev.nemoh.io;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.nemoh.tensor.DType;
import dev.nemoh.tensor.Tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
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
 * Writes tensors in safetensors format. The header is padded with spaces to a multiple of 8 bytes so that readers
 * may map tensors aligned. Each tensor's bytes are written (or generated) in place in the memory-mapped output
 * ({@link MappedOutput}), so a multi-gigabyte checkpoint never passes through the heap and a crash never leaves a
 * half-written one under the real name.
 */
public final class SafetensorsWriter {
    private static final ObjectMapper JSON = new ObjectMapper();

    private record Entry(String name, DType dtype, long[] shape, long bytes, Consumer<MemorySegment> fill) {}

    private final List<Entry> entries = new ArrayList<>();
    private final Set<String> names = new HashSet<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();

    public SafetensorsWriter add(Tensor t) {
        return add(t.name(), t.dtype(), t.shape(), dst -> MemorySegment.copy(t.data(), 0, dst, 0, t.data().byteSize()));
    }

    /** Adds a tensor whose bytes {@code fill} writes into the segment it is given (exactly its size). */
    public SafetensorsWriter add(String name, DType dtype, long[] shape, Consumer<MemorySegment> fill) {
        if (!names.add(name)) throw new IllegalArgumentException("tensor " + name + " added twice");
        entries.add(new Entry(name, dtype, shape.clone(), Tensor.numel(shape) * dtype.bytes, fill));
        return this;
    }

    public SafetensorsWriter metadata(String key, String value) {
        metadata.put(key, value);
        return this;
    }

    public void write(Path path) {
        ObjectNode header = JSON.createObjectNode();
        if (!metadata.isEmpty()) {
            ObjectNode m = header.putObject("__metadata__");
            metadata.forEach(m::put);
        }
        long offset = 0;
        for (Entry e : entries) {
            ObjectNode info = header.putObject(e.name);
            info.put("dtype", e.dtype.name());
            var shape = info.putArray("shape");
            for (long d : e.shape) shape.add(d);
            info.putArray("data_offsets").add(offset).add(offset + e.bytes);
            offset += e.bytes;
        }
        byte[] json = header.toString().getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8;
        long dataStart = 8L + padded;

        MappedOutput.write(path, dataStart + offset, file -> {
            file.set(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0, padded);
            MemorySegment.copy(json, 0, file, ValueLayout.JAVA_BYTE, 8, json.length);
            file.asSlice(8 + json.length, padded - json.length).fill((byte) ' ');
            long pos = dataStart;
            for (Entry e : entries) {
                e.fill.accept(file.asSlice(pos, e.bytes));
                pos += e.bytes;
            }
        });
    }
}
