package dev.nemoh.io;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Megatron-LM's indexed dataset byte by byte: the bytes below are written out by hand from the layout of Megatron's
 * {@code _IndexWriter} and {@code IndexedDatasetBuilder.add_document} (megatron/core/datasets/indexed_dataset.py).
 */
class IndexedDatasetTest {
    /** Three documents: [5, 300, 2], [] (a document with no tokens, hence no sequence) and [65535]. */
    static final int[][] DOCS = {{5, 300, 2}, {}, {65535}};

    static final String IDX_HEX = ""
            + "4d4d49444944580000"      // MMIDIDX\0\0
            + "0100000000000000"        // version 1
            + "08"                      // dtype code 8: uint16
            + "0200000000000000"        // 2 sequences
            + "0400000000000000"        // 4 document boundaries (3 documents)
            + "03000000" + "01000000"   // sequence lengths 3, 1 (int32)
            + "0000000000000000" + "0600000000000000"  // byte offsets 0, 6 (int64)
            + "0000000000000000" + "0100000000000000" + "0100000000000000" + "0200000000000000"; // bounds 0, 1, 1, 2
    static final String BIN_HEX = "0500" + "2c01" + "0200" + "ffff";

    static Path write(Path dir, int[][] docs, IndexedDataset.TokenType type, int vocab) {
        Path prefix = dir.resolve("corpus_text_document");
        try (IndexedDataset.Writer w = new IndexedDataset.Writer(prefix, type, vocab)) {
            for (int[] d : docs) w.addDocument(d);
            w.finish();
        }
        return prefix;
    }

    @Test
    void writesMegatronsBytes(@TempDir Path dir) throws IOException {
        Path prefix = write(dir, DOCS, IndexedDataset.TokenType.UINT16, 65536);
        assertEquals(IDX_HEX, HexFormat.of().formatHex(Files.readAllBytes(IndexedDataset.idx(prefix))));
        assertEquals(BIN_HEX, HexFormat.of().formatHex(Files.readAllBytes(IndexedDataset.bin(prefix))));
        try (var files = Files.list(dir)) {
            assertEquals(2, files.count(), "no temporary file is left");
        }
    }

    @Test
    void readsMegatronsBytes(@TempDir Path dir) throws IOException {
        Path prefix = dir.resolve("theirs");
        Files.write(IndexedDataset.idx(prefix), HexFormat.of().parseHex(IDX_HEX));
        Files.write(IndexedDataset.bin(prefix), HexFormat.of().parseHex(BIN_HEX));
        try (IndexedDataset d = IndexedDataset.open(prefix)) {
            assertEquals(IndexedDataset.TokenType.UINT16, d.type);
            assertEquals(2, d.sequenceCount());
            assertEquals(3, d.documentCount());
            assertArrayEquals(new int[]{5, 300, 2}, d.sequence(0));
            assertArrayEquals(new int[]{65535}, d.sequence(1));
            assertArrayEquals(new int[]{0, 1}, d.documentSequences(0));
            assertArrayEquals(new int[]{1, 1}, d.documentSequences(1));
            assertArrayEquals(new int[]{1, 2}, d.documentSequences(2));
            int[] part = new int[2];
            d.read(0, 1, 2, part, 0);
            assertArrayEquals(new int[]{300, 2}, part);
        }
    }

    @Test
    void int32ForLargeVocabulariesAndEveryIntegerTypeReadsBack(@TempDir Path dir) {
        assertEquals(IndexedDataset.TokenType.UINT16, IndexedDataset.TokenType.forVocabulary(65499));
        assertEquals(IndexedDataset.TokenType.INT32, IndexedDataset.TokenType.forVocabulary(65500));
        assertEquals(IndexedDataset.TokenType.INT32, IndexedDataset.TokenType.forVocabulary(131072));
        int[][] docs = {{0, 1, 100, 127}, {3}};
        for (IndexedDataset.TokenType t : new IndexedDataset.TokenType[]{IndexedDataset.TokenType.UINT8,
                IndexedDataset.TokenType.INT8, IndexedDataset.TokenType.INT16, IndexedDataset.TokenType.INT32,
                IndexedDataset.TokenType.INT64, IndexedDataset.TokenType.UINT16}) {
            Path prefix = write(dir.resolve(t.name()), docs, t, 128);
            try (IndexedDataset d = IndexedDataset.open(prefix)) {
                assertEquals(t, d.type);
                assertArrayEquals(docs[0], d.sequence(0));
                assertArrayEquals(docs[1], d.sequence(1));
            }
        }
        assertTrue(assertThrows(IllegalArgumentException.class,
                () -> new IndexedDataset.Writer(dir.resolve("x"), IndexedDataset.TokenType.UINT16, 70000))
                .getMessage().contains("cannot hold ids of a 70000-token vocabulary"));
    }

    @Test
    void anIdOutsideTheVocabularyIsRefusedAndLeavesNothing(@TempDir Path dir) throws IOException {
        Path prefix = dir.resolve("bad");
        try (IndexedDataset.Writer w = new IndexedDataset.Writer(prefix, IndexedDataset.TokenType.UINT16, 320)) {
            w.addDocument(new int[]{1, 2});
            assertTrue(assertThrows(IllegalArgumentException.class, () -> w.addDocument(new int[]{320}))
                    .getMessage().contains("token id 320 outside the 320-token vocabulary"));
        }
        try (var files = Files.list(dir)) {
            assertEquals(0, files.count(), "an unfinished writer removes its files");
        }
    }

    static String openError(Path prefix) {
        return assertThrows(CheckpointException.class, () -> IndexedDataset.open(prefix).close()).getMessage();
    }

    @Test
    void damagedOrMissingFilesGetOneLineNamingTheProblem(@TempDir Path dir) throws IOException {
        Path prefix = write(dir, DOCS, IndexedDataset.TokenType.UINT16, 65536);
        byte[] idx = Files.readAllBytes(IndexedDataset.idx(prefix)), bin = Files.readAllBytes(IndexedDataset.bin(prefix));

        assertTrue(openError(dir.resolve("nothing")).contains("nothing.bin + nothing.idx"));

        Files.write(IndexedDataset.bin(prefix), java.util.Arrays.copyOf(bin, bin.length - 2));
        String truncatedBin = openError(prefix);
        assertTrue(truncatedBin.contains("holds 6 bytes but sequence 1") && truncatedBin.contains("truncated .bin"), truncatedBin);
        Files.write(IndexedDataset.bin(prefix), bin);

        Files.write(IndexedDataset.idx(prefix), java.util.Arrays.copyOf(idx, idx.length - 8));
        assertTrue(openError(prefix).contains("truncated or damaged"));

        byte[] header = idx.clone();
        header[0] = 'X';
        Files.write(IndexedDataset.idx(prefix), header);
        assertTrue(openError(prefix).contains("does not start with MMIDIDX"));

        byte[] version = idx.clone();
        version[9] = 2;
        Files.write(IndexedDataset.idx(prefix), version);
        assertTrue(openError(prefix).contains("version 2"));

        byte[] floats = idx.clone();
        floats[17] = 7;
        Files.write(IndexedDataset.idx(prefix), floats);
        assertTrue(openError(prefix).contains("token type code 7 is not an integer type"));

        byte[] bounds = idx.clone();
        bounds[idx.length - 8] = 1; // the last boundary says 1 of 2 sequences
        Files.write(IndexedDataset.idx(prefix), bounds);
        assertTrue(openError(prefix).contains("document boundary 3 is 1"));

        Files.write(IndexedDataset.idx(prefix), idx);
        try (IndexedDataset d = IndexedDataset.open(prefix)) {
            assertFalse(d.documentCount() == 0);
        }
    }
}
