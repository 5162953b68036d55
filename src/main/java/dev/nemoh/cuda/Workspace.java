package dev.nemoh.cuda;

import java.util.HashMap;
import java.util.Map;

/**
 * Named scratch buffers on the device, grown on demand and reused by every forward pass: activations, projections,
 * scan intermediates, attention scores. Work runs in order on one stream, so reuse between layers is safe.
 */
final class Workspace {
    private record Buffer(long ptr, long bytes) {}

    private final Cuda cuda;
    private final Map<String, Buffer> buffers = new HashMap<>();
    private long generation;

    Workspace(Cuda cuda) {
        this.cuda = cuda;
    }

    /** A buffer of at least {@code bytes} under {@code name}; its earlier contents are lost when it grows. */
    long get(String name, long bytes) {
        Buffer b = buffers.get(name);
        if (b != null && b.bytes >= bytes) return b.ptr;
        if (b != null) cuda.free(b.ptr);
        long size = Math.max(bytes, b == null ? 0 : b.bytes * 3 / 2);
        buffers.put(name, new Buffer(cuda.alloc(GpuMemory.Part.WORKSPACE, size), size));
        generation++;
        return buffers.get(name).ptr;
    }

    /** Changes whenever a buffer is allocated or moved, so work captured with the old addresses can tell. */
    long generation() {
        return generation;
    }

    void close() {
        for (Buffer b : buffers.values()) cuda.free(b.ptr);
        buffers.clear();
    }
}
