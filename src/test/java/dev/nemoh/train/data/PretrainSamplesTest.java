package dev.nemoh.train.data;

import dev.nemoh.io.IndexedDataset;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Pretraining samples: documents joined in a seeded order, cut with one token of overlap, blended by weight. */
class PretrainSamplesTest {
    /** Document d holds the ids d·100, d·100 + 1, ... (lengths vary; document 3 is empty). */
    static IndexedDataset dataset(Path dir, String name, int docs) {
        Path prefix = dir.resolve(name);
        try (IndexedDataset.Writer w = new IndexedDataset.Writer(prefix, IndexedDataset.TokenType.INT32, 1 << 20)) {
            for (int d = 0; d < docs; d++) {
                int len = d == 3 ? 0 : 5 + (d * 7) % 23;
                int[] ids = new int[len];
                for (int i = 0; i < len; i++) ids[i] = d * 100 + i;
                w.addDocument(ids);
            }
            w.finish();
        }
        return IndexedDataset.open(prefix);
    }

    @Test
    void anEpochIsTheShuffledDocumentsCutWithOneTokenOfOverlap(@TempDir Path dir) {
        try (IndexedDataset d = dataset(dir, "a", 40)) {
            int seqLen = 16;
            PretrainSamples p = new PretrainSamples(List.of(new PretrainSamples.Source("a", d, 1, 0, 40)), seqLen, 2, 3, 7);
            long tokens = 0;
            for (int doc = 0; doc < 40; doc++) tokens += doc == 3 ? 0 : 5 + (doc * 7) % 23;
            assertEquals((tokens - 1) / seqLen, p.rows());
            List<Integer> stream = new ArrayList<>();
            int[] previous = null;
            for (long k = 0; k < p.rows(); k++) {
                int[] s = p.sample(k).ids();
                assertEquals(seqLen + 1, s.length);
                assertArrayEquals(s, p.sample(k).labels(), "the model shifts the labels itself");
                if (previous != null) assertEquals(previous[seqLen], s[0], "consecutive samples share one token");
                for (int i = previous == null ? 0 : 1; i < s.length; i++) stream.add(s[i]);
                previous = s;
            }
            // the stream is whole documents, each in its own order, every non-empty document once, in a shuffled order
            List<Integer> firstDocs = new ArrayList<>();
            for (int i = 0; i < stream.size(); i++) {
                int id = stream.get(i);
                if (id % 100 == 0) firstDocs.add(id / 100);
                else assertEquals(stream.get(i - 1) + 1, id, "tokens of a document stay in order at " + i);
            }
            assertEquals(firstDocs.size(), new java.util.HashSet<>(firstDocs).size(), "no document twice in an epoch");
            assertTrue(firstDocs.size() >= 37 && !firstDocs.contains(3), firstDocs.toString());
            assertNotEquals(firstDocs.stream().sorted().toList(), firstDocs, "documents come shuffled");

            // the next epoch shuffles again; the same seed gives the same samples, another seed others
            assertNotEquals(Arrays.toString(p.sample(0).ids()), Arrays.toString(p.sample(p.rows()).ids()));
            PretrainSamples again = new PretrainSamples(List.of(new PretrainSamples.Source("a", d, 1, 0, 40)), seqLen, 2, 3, 7);
            PretrainSamples other = new PretrainSamples(List.of(new PretrainSamples.Source("a", d, 1, 0, 40)), seqLen, 2, 3, 8);
            assertArrayEquals(p.sample(5).ids(), again.sample(5).ids());
            assertNotEquals(Arrays.toString(p.sample(5).ids()), Arrays.toString(other.sample(5).ids()));

            // a step is micro-batches of consecutive samples
            List<MicroBatch> step = p.step(2);
            assertEquals(3, step.size());
            assertArrayEquals(p.sample(12).ids(), step.get(0).ids()[0]);
            assertArrayEquals(p.sample(17).ids(), step.get(2).ids()[1]);
        }
    }

    @Test
    void sourcesAreBlendedByWeight(@TempDir Path dir) {
        try (IndexedDataset a = dataset(dir, "a", 30); IndexedDataset b = dataset(dir, "b", 30)) {
            PretrainSamples p = new PretrainSamples(List.of(new PretrainSamples.Source("a", a, 3, 0, 15),
                    new PretrainSamples.Source("b", b, 1, 15, 30)), 8, 1, 1, 1);
            int fromA = 0;
            for (long k = 0; k < 400; k++) {
                int first = p.sample(k).ids()[0] / 100;
                if (first < 15) fromA++;
                if (k % 4 == 3) assertEquals(3 * (k + 1) / 4, fromA, "after sample " + k);
            }
            assertEquals(300, fromA);
        }
    }

    @Test
    void tooLittleDataIsNamed(@TempDir Path dir) {
        try (IndexedDataset a = dataset(dir, "a", 2)) {
            String m = assertThrows(IllegalArgumentException.class, () -> new PretrainSamples(
                    List.of(new PretrainSamples.Source("a (train split)", a, 1, 0, 1)), 64, 1, 1, 1)).getMessage();
            assertEquals("a (train split) has 5 tokens in documents 0..1, fewer than one sample of --seq-len 64 + 1: use "
                    + "more data or a shorter --seq-len", m);
        }
    }
}
