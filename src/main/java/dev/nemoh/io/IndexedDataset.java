package dev.nemoh.io;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;

/**
 * Megatron-LM's indexed dataset, the pretraining data format of Megatron-LM and Megatron Bridge: {@code P.bin} holds
 * the token ids of every sequence back to back in one integer type, {@code P.idx} describes them. The index is, all
 * little-endian: the 9 bytes {@code MMIDIDX\0\0}, version 1 as uint64, the token type's code as one byte, the number
 * of sequences S and of document boundaries D (documents + 1) as uint64, then S int32 sequence lengths (in tokens),
 * S int64 byte offsets of the sequences in {@code P.bin}, and D int64 document boundaries: document d is sequences
 * {@code [bounds[d], bounds[d + 1])}, starting at 0. Without sentence splitting each document is one sequence (or
 * none when it had no tokens). Files are memory-mapped; token ids are returned as ints.
 */
public final class IndexedDataset implements AutoCloseable {
    private static final byte[] HEADER = "MMIDIDX\0\0".getBytes(StandardCharsets.US_ASCII);
    private static final int PREFIX = HEADER.length + 8 + 1 + 8 + 8;
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** The token types of Megatron's {@code DType} codes; the floating ones are refused for token ids. */
    public enum TokenType {
        UINT8(1, 1), INT8(2, 1), INT16(3, 2), INT32(4, 4), INT64(5, 8), FLOAT64(6, 8), FLOAT32(7, 4), UINT16(8, 2);

        public final int code, bytes;

        TokenType(int code, int bytes) {
            this.code = code;
            this.bytes = bytes;
        }

        /** Megatron's choice for a vocabulary of that size: uint16 below 65,500 ids, int32 from there. */
        public static TokenType forVocabulary(int vocabSize) {
            return vocabSize < 65500 ? UINT16 : INT32;
        }

        static TokenType ofCode(int code) {
            for (TokenType t : values()) if (t.code == code) return t;
            return null;
        }

        /** Whether every id in [0, vocabSize) fits. */
        boolean holds(int vocabSize) {
            return switch (this) {
                case UINT8 -> vocabSize <= 256;
                case INT8 -> vocabSize <= 128;
                case INT16 -> vocabSize <= 32768;
                case UINT16 -> vocabSize <= 65536;
                case INT32, INT64 -> true;
                case FLOAT32, FLOAT64 -> false;
            };
        }
    }

    /** {@code prefix.bin} and {@code prefix.idx}. */
    public static Path bin(Path prefix) {
        return sibling(prefix, ".bin");
    }

    public static Path idx(Path prefix) {
        return sibling(prefix, ".idx");
    }

    private static Path sibling(Path prefix, String extension) {
        return prefix.resolveSibling(prefix.getFileName() + extension);
    }

    private final Path prefix;
    private final Arena arena;
    private final MemorySegment index, data;
    public final TokenType type;
    private final int sequences, documents;
    private final long lengthsAt, pointersAt, boundsAt;

    private IndexedDataset(Path prefix, Arena arena, MemorySegment index, MemorySegment data, TokenType type,
                           int sequences, int documents) {
        this.prefix = prefix;
        this.arena = arena;
        this.index = index;
        this.data = data;
        this.type = type;
        this.sequences = sequences;
        this.documents = documents;
        this.lengthsAt = PREFIX;
        this.pointersAt = lengthsAt + 4L * sequences;
        this.boundsAt = pointersAt + 8L * sequences;
    }

    /**
     * Opens {@code prefix.idx} and {@code prefix.bin} (the data path as Megatron's {@code --data-path} names it, without
     * an extension), checking the index against itself and the data file's size.
     */
    public static IndexedDataset open(Path prefix) {
        Path idx = idx(prefix), bin = bin(prefix);
        for (Path p : new Path[]{idx, bin}) {
            if (!Files.isRegularFile(p)) {
                throw new CheckpointException("no " + p + ": a dataset is a pair " + bin.getFileName() + " + "
                        + idx.getFileName() + " (give the path without .bin/.idx), written by nemoh preprocess or "
                        + "Megatron-LM's tools/preprocess_data.py");
            }
        }
        Arena arena = Arena.ofShared();
        try {
            MemorySegment index = map(idx, arena), data = map(bin, arena);
            String bad = idx + " is not a Megatron indexed dataset index: ";
            if (index.byteSize() < PREFIX || !Arrays.equals(index.asSlice(0, HEADER.length).toArray(ValueLayout.JAVA_BYTE), HEADER)) {
                throw new CheckpointException(bad + "it does not start with MMIDIDX (a truncated or different file)");
            }
            long version = index.get(I64, HEADER.length);
            if (version != 1) throw new CheckpointException(bad + "version " + version + ", only version 1 is known");
            int code = index.get(ValueLayout.JAVA_BYTE, HEADER.length + 8);
            TokenType type = TokenType.ofCode(code);
            if (type == null || type == TokenType.FLOAT32 || type == TokenType.FLOAT64) {
                throw new CheckpointException(bad + "token type code " + code + " is not an integer type (1-5, 8)");
            }
            long sequences = index.get(I64, HEADER.length + 9), bounds = index.get(I64, HEADER.length + 17);
            if (sequences < 0 || sequences > Integer.MAX_VALUE || bounds < 1 || bounds - 1 > Integer.MAX_VALUE) {
                throw new CheckpointException(bad + sequences + " sequences and " + bounds + " document boundaries");
            }
            long expected = PREFIX + 12L * sequences + 8L * bounds;
            // Megatron appends one mode byte per sequence for multimodal data; text has none
            if (index.byteSize() != expected && index.byteSize() != expected + sequences) {
                throw new CheckpointException(bad + index.byteSize() + " bytes where " + sequences + " sequences and "
                        + bounds + " boundaries take " + expected + " (truncated or damaged; preprocess the data again)");
            }
            IndexedDataset d = new IndexedDataset(prefix, arena, index, data, type, (int) sequences, (int) bounds - 1);
            d.check();
            return d;
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    private static MemorySegment map(Path p, Arena arena) {
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ)) {
            return ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + p + ": " + e.getMessage(), e);
        }
    }

    /** Lengths, offsets and boundaries consistent with each other and with the data file. */
    private void check() {
        for (int s = 0; s < sequences; s++) {
            long length = length(s), at = pointer(s);
            if (length < 0 || at < 0 || at % type.bytes != 0 || at + length * type.bytes > data.byteSize()) {
                throw new CheckpointException(bin(prefix) + " holds " + data.byteSize() + " bytes but sequence " + s
                        + " of " + idx(prefix).getFileName() + " is " + length + " tokens at byte " + at
                        + " (a truncated .bin or a mismatched pair; preprocess the data again)");
            }
        }
        long previous = 0;
        for (int d = 0; d <= documents; d++) {
            long b = bound(d);
            if ((d == 0 && b != 0) || b < previous || b > sequences || (d == documents && b != sequences)) {
                throw new CheckpointException(idx(prefix) + ": document boundary " + d + " is " + b + " (they must rise "
                        + "from 0 to the " + sequences + " sequences; a damaged index)");
            }
            previous = b;
        }
    }

    /** The data path: the files without their extension. */
    public Path prefix() {
        return prefix;
    }

    public int sequenceCount() {
        return sequences;
    }

    public int documentCount() {
        return documents;
    }

    public int length(int sequence) {
        return index.get(I32, lengthsAt + 4L * sequence);
    }

    private long pointer(int sequence) {
        return index.get(I64, pointersAt + 8L * sequence);
    }

    private long bound(int document) {
        return index.get(I64, boundsAt + 8L * document);
    }

    /** The first sequence of document {@code d} and one past its last. */
    public int[] documentSequences(int d) {
        return new int[]{(int) bound(d), (int) bound(d + 1)};
    }

    /** The token ids of sequence {@code s}. */
    public int[] sequence(int s) {
        int n = length(s);
        int[] out = new int[n];
        read(pointer(s), n, out, 0);
        return out;
    }

    /** Tokens {@code [from, from + count)} of sequence {@code s} into {@code out} at {@code at}. */
    public void read(int s, int from, int count, int[] out, int at) {
        if (from < 0 || count < 0 || from + count > length(s)) {
            throw new IndexOutOfBoundsException("tokens " + from + "+" + count + " of a " + length(s) + "-token sequence");
        }
        read(pointer(s) + (long) from * type.bytes, count, out, at);
    }

    private void read(long byteAt, int count, int[] out, int at) {
        for (int i = 0; i < count; i++) {
            long p = byteAt + (long) i * type.bytes;
            long v = switch (type) {
                case UINT8 -> data.get(ValueLayout.JAVA_BYTE, p) & 0xFF;
                case INT8 -> data.get(ValueLayout.JAVA_BYTE, p);
                case INT16 -> data.get(I16, p);
                case UINT16 -> data.get(I16, p) & 0xFFFF;
                case INT32 -> data.get(I32, p);
                case INT64 -> data.get(I64, p);
                case FLOAT32, FLOAT64 -> throw new AssertionError(type);
            };
            if (v < 0 || v > Integer.MAX_VALUE) {
                throw new CheckpointException(bin(prefix) + " holds token id " + v + " at byte " + p + " (not a token id)");
            }
            out[at + i] = (int) v;
        }
    }

    @Override
    public void close() {
        arena.close();
    }

    /**
     * Writes a dataset as Megatron-LM's {@code IndexedDatasetBuilder} does, to temporary files that become
     * {@code prefix.bin} and {@code prefix.idx} only on {@link #finish} (a run stopped half-way leaves no pair that
     * looks whole); {@link #close} without finishing removes them.
     */
    public static final class Writer implements AutoCloseable {
        private final Path prefix, binTmp, idxTmp;
        private final TokenType type;
        private final int vocabSize;
        private final OutputStream bin;
        private int[] lengths = new int[1024];
        private long[] bounds = new long[1024];
        private int sequences, documents;
        private long tokens;
        private final byte[] buffer = new byte[1 << 16];
        private boolean finished;

        public Writer(Path prefix, TokenType type, int vocabSize) {
            if (!type.holds(vocabSize)) {
                throw new IllegalArgumentException("token type " + type + " cannot hold ids of a " + vocabSize + "-token vocabulary");
            }
            this.prefix = prefix;
            this.type = type;
            this.vocabSize = vocabSize;
            this.binTmp = sibling(prefix, ".bin.tmp");
            this.idxTmp = sibling(prefix, ".idx.tmp");
            try {
                Path parent = prefix.toAbsolutePath().getParent();
                if (parent != null) Files.createDirectories(parent);
                this.bin = new BufferedOutputStream(Files.newOutputStream(binTmp), 1 << 20);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write " + binTmp + ": " + e.getMessage(), e);
            }
        }

        /** A document of {@code ids}, one sequence of all of them (none when it is empty). */
        public void addDocument(int[] ids) {
            if (ids.length > 0) addSequence(ids);
            if (documents + 1 == bounds.length) bounds = Arrays.copyOf(bounds, bounds.length * 2);
            bounds[++documents] = sequences;
        }

        private void addSequence(int[] ids) {
            int at = 0;
            for (int id : ids) {
                if (id < 0 || id >= vocabSize) {
                    throw new IllegalArgumentException("token id " + id + " outside the " + vocabSize + "-token vocabulary");
                }
                long v = id;
                for (int b = 0; b < type.bytes; b++) buffer[at++] = (byte) (v >>> (8 * b));
                if (at + 8 > buffer.length) {
                    write(buffer, at);
                    at = 0;
                }
            }
            write(buffer, at);
            if (sequences == lengths.length) lengths = Arrays.copyOf(lengths, lengths.length * 2);
            lengths[sequences++] = ids.length;
            tokens += ids.length;
        }

        private void write(byte[] b, int n) {
            try {
                bin.write(b, 0, n);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write " + binTmp + ": " + e.getMessage(), e);
            }
        }

        public long tokens() {
            return tokens;
        }

        public int documents() {
            return documents;
        }

        /** Writes the index and puts both files in place. */
        public void finish() {
            try {
                bin.close();
                try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(idxTmp), 1 << 20)) {
                    java.nio.ByteBuffer head = java.nio.ByteBuffer.allocate(PREFIX).order(ByteOrder.LITTLE_ENDIAN);
                    head.put(HEADER).putLong(1).put((byte) type.code).putLong(sequences).putLong(documents + 1L);
                    out.write(head.array());
                    java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
                    for (int s = 0; s < sequences; s++) out.write(b.clear().putInt(lengths[s]).array(), 0, 4);
                    long pointer = 0;
                    for (int s = 0; s < sequences; s++) {
                        out.write(b.clear().putLong(pointer).array());
                        pointer += (long) lengths[s] * type.bytes;
                    }
                    for (int d = 0; d <= documents; d++) out.write(b.clear().putLong(bounds[d]).array());
                }
                Files.move(binTmp, bin(prefix), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
                Files.move(idxTmp, idx(prefix), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
                finished = true;
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write " + prefix + ".bin/.idx: " + e.getMessage(), e);
            }
        }

        @Override
        public void close() {
            if (finished) return;
            try {
                bin.close();
            } catch (IOException ignored) {
                // removing the file follows
            }
            try {
                Files.deleteIfExists(binTmp);
                Files.deleteIfExists(idxTmp);
            } catch (NoSuchFileException ignored) {
                // already gone
            } catch (IOException e) {
                throw new UncheckedIOException("cannot remove " + binTmp + ": " + e.getMessage(), e);
            }
        }
    }
}
