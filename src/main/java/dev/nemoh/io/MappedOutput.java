package dev.nemoh.io;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.function.Consumer;

/**
 * Writes a file of known size through a memory mapping, so multi-gigabyte outputs never pass through the heap. The
 * file is written under a temporary name and moved into place, so a crash never leaves a half-written file under
 * the real name.
 */
final class MappedOutput {
    private MappedOutput() {}

    /** Creates {@code path} with {@code size} bytes that {@code body} writes into the mapped segment it is given. */
    static void write(Path path, long size, Consumer<MemorySegment> body) {
        Path tmp = path.resolveSibling(path.getFileName() + ".tmp");
        try {
            if (path.getParent() != null) Files.createDirectories(path.getParent());
            try (Arena arena = Arena.ofShared();
                 FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                         StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                MemorySegment file = ch.map(FileChannel.MapMode.READ_WRITE, 0, size, arena);
                body.accept(file);
                file.force();
            }
            Files.move(tmp, path, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new CheckpointException("cannot write " + path + ": " + e.getMessage(), e);
        }
    }
}
