package dev.nemoh.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.nemoh.tensor.DType;
import dev.nemoh.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One {@code .safetensors} file, memory-mapped: an 8-byte little-endian header length, a JSON header naming each
 * tensor's dtype, shape and byte range, then the data. Tensors are views into the mapping; nothing is copied.
 */
public final class SafetensorsFile implements AutoCloseable {
    /** Headers larger than this are not real checkpoints (the reference implementation caps them at 100 MB). */
    private static final long MAX_HEADER = 100L << 20;
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path path;
    private final Arena arena;
    private final Map<String, Tensor> tensors;
    private final Map<String, String> metadata;

    private SafetensorsFile(Path path, Arena arena, Map<String, Tensor> tensors, Map<String, String> metadata) {
        this.path = path;
        this.arena = arena;
        this.tensors = tensors;
        this.metadata = metadata;
    }

    public static SafetensorsFile open(Path path) {
        return MappedFile.open(path, (file, arena) -> {
            long size = file.byteSize();
            if (size < 8) {
                throw new CheckpointException(path + " is truncated: " + size + " bytes, too short for a safetensors header;"
                        + " download the file again");
            }
            long headerLen = file.get(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
            if (headerLen < 0 || headerLen > MAX_HEADER) {
                throw new CheckpointException(path + ": header length " + Long.toUnsignedString(headerLen)
                        + " overflows the limit of " + MAX_HEADER + " bytes; this is not a safetensors file or it is corrupt");
            }
            if (8 + headerLen > size) {
                throw new CheckpointException(path + " is truncated: the header claims " + headerLen + " bytes but the file has "
                        + (size - 8) + " after the length field; download the file again");
            }
            byte[] header = file.asSlice(8, headerLen).toArray(ValueLayout.JAVA_BYTE);
            MemorySegment data = file.asSlice(8 + headerLen);
            var parsed = parseHeader(path, new String(header, StandardCharsets.UTF_8), data);
            return new SafetensorsFile(path, arena, parsed.tensors, parsed.metadata);
        });
    }

    private record Header(Map<String, Tensor> tensors, Map<String, String> metadata) {}

    private static Header parseHeader(Path path, String text, MemorySegment data) {
        JsonNode root;
        try {
            root = JSON.readTree(text.strip());
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new CheckpointException(path + ": the header is not valid JSON (" + e.getOriginalMessage() + "); the file is corrupt");
        }
        if (root == null || !root.isObject()) throw new CheckpointException(path + ": the header is not a JSON object");
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
            var e = it.next();
            String name = e.getKey();
            JsonNode info = e.getValue();
            if (name.equals("__metadata__")) {
                info.fields().forEachRemaining(m -> metadata.put(m.getKey(), m.getValue().asText()));
                continue;
            }
            DType dtype = DType.parse(info.path("dtype").asText());
            if (dtype == null) {
                throw new CheckpointException(path + ": tensor " + name + " has unsupported dtype \"" + info.path("dtype").asText()
                        + "\"; supported: BF16, F16, F32, F64, F8_E4M3, F8_E5M2, I64, I32, I16, I8, U8, BOOL");
            }
            JsonNode shapeNode = info.path("shape");
            JsonNode offsets = info.path("data_offsets");
            if (!shapeNode.isArray() || !offsets.isArray() || offsets.size() != 2) {
                throw new CheckpointException(path + ": tensor " + name + " lacks a shape or data_offsets in the header");
            }
            long[] shape = new long[shapeNode.size()];
            for (int i = 0; i < shape.length; i++) {
                shape[i] = shapeNode.get(i).asLong(-1);
                if (shape[i] < 0) throw new CheckpointException(path + ": tensor " + name + " has a negative dimension");
            }
            long begin = offsets.get(0).asLong(-1);
            long end = offsets.get(1).asLong(-1);
            long expected;
            try {
                long numel = 1;
                for (long d : shape) numel = Math.multiplyExact(numel, d); // Tensor.numel would wrap silently
                expected = Math.multiplyExact(numel, dtype.bytes);
            } catch (ArithmeticException ex) {
                throw new CheckpointException(path + ": tensor " + name + " has a shape too large to address");
            }
            if (begin < 0 || end < begin) {
                throw new CheckpointException(path + ": tensor " + name + " has invalid data_offsets [" + begin + ", " + end + "]");
            }
            if (end > data.byteSize()) {
                throw new CheckpointException(path + " is truncated: tensor " + name + " ends at byte " + end
                        + " of the data section but the file holds only " + data.byteSize() + "; download the file again");
            }
            if (end - begin != expected) {
                throw new CheckpointException(path + ": tensor " + name + " " + dtype + java.util.Arrays.toString(shape)
                        + " needs " + expected + " bytes but its data_offsets span " + (end - begin));
            }
            tensors.put(name, new Tensor(name, dtype, shape, data.asSlice(begin, end - begin)));
        }
        return new Header(Collections.unmodifiableMap(tensors), Collections.unmodifiableMap(metadata));
    }

    public Path path() {
        return path;
    }

    public Map<String, Tensor> tensors() {
        return tensors;
    }

    public Map<String, String> metadata() {
        return metadata;
    }

    public Tensor get(String name) {
        Tensor t = tensors.get(name);
        if (t == null) throw new CheckpointException(path + " has no tensor named " + name);
        return t;
    }

    @Override
    public void close() {
        arena.close();
    }
}
