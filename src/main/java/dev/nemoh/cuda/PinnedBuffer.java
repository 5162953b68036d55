package dev.nemoh.cuda;

import java.lang.foreign.MemorySegment;

/**
 * Page-locked host memory grown on demand, for what crosses the bus every decode step (token ids and state tables
 * up, logits down): those copies then skip the driver's staging copy and queue on the stream with the step.
 */
final class PinnedBuffer {
    private final Cuda cuda;
    private MemorySegment host = MemorySegment.NULL;

    PinnedBuffer(Cuda cuda) {
        this.cuda = cuda;
    }

    /** At least {@code bytes} of it; earlier contents are lost when it grows. */
    MemorySegment get(long bytes) {
        if (host.byteSize() < bytes) {
            free();
            host = cuda.allocHost(Math.max(bytes, host.byteSize() * 3 / 2));
        }
        return host.asSlice(0, bytes);
    }

    void free() {
        if (host.byteSize() > 0) cuda.freeHost(host);
        host = MemorySegment.NULL;
    }
}
