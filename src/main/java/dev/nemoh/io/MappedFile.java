package dev.nemoh.io;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * A checkpoint file mapped read-only into a shared arena that what is parsed from it owns (safetensors, GGUF): a
 * missing or unreadable file is one {@link CheckpointException}, and the arena is closed when parsing fails.
 */
final class MappedFile {
    /** Parses the mapped bytes into a reader that keeps {@code arena} open while it is used. */
    interface Parser<T> {
        T parse(MemorySegment file, Arena arena);
    }

    private MappedFile() {}

    static <T> T open(Path path, Parser<T> parser) {
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            return parser.parse(ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena), arena);
        } catch (NoSuchFileException e) {
            arena.close();
            throw new CheckpointException("no such file: " + path);
        } catch (IOException e) {
            arena.close();
            throw new CheckpointException("cannot read " + path + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }
}
