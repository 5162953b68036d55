package dev.nemoh.train.data;

import dev.nemoh.io.IndexedDataset;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;

/**
 * Pretraining samples from indexed datasets, as Megatron's GPT dataset makes them: each source's documents of one
 * split are joined (the EOD tokens preprocessing appended keep them apart) in an order shuffled with the seed and the
 * epoch, and cut into samples of {@code seqLen + 1} tokens, consecutive samples sharing one token, so that every token
 * of the stream but the first is predicted once (a sample has {@code seqLen} targets). Several sources are blended by
 * weight as Megatron's {@code BlendedDataset} does: sample k goes to the source whose share falls furthest behind its
 * weight. Sample k is a pure function of k and the seed, so a resumed run reads the same data.
 */
public final class PretrainSamples implements BatchPlan {
    /** One dataset's part in a blend: documents {@code [firstDoc, endDoc)} of it, drawn with this weight. */
    public record Source(String name, IndexedDataset data, double weight, int firstDoc, int endDoc) {
    }

    private final List<Stream> sources = new ArrayList<>();
    private final double[] weights;
    private final int seqLen, batchSize, gradAccum;
    private final long seed;
    private final long samplesPerEpoch;
    /** The source and within-source index of every global sample up to {@link #blended}. */
    private int[] sourceOf = new int[0];
    private long[] indexOf = new long[0];
    private int blended;
    private final long[] drawn;
    /** Token ids must stay below this (the model's embedding rows); see {@link #checkIds}. */
    private int vocabSize = Integer.MAX_VALUE;

    public PretrainSamples(List<Source> sources, int seqLen, int batchSize, int gradAccum, long seed) {
        if (sources.isEmpty()) throw new IllegalArgumentException("no data: give --data PATH (or WEIGHT PATH ...)");
        if (seqLen < 2) throw new IllegalArgumentException("--seq-len must be at least 2, got " + seqLen);
        if (batchSize < 1) throw new IllegalArgumentException("--micro-batch must be at least 1, got " + batchSize);
        if (gradAccum < 1) throw new IllegalArgumentException("the global batch must be a multiple of the micro batch");
        this.seqLen = seqLen;
        this.batchSize = batchSize;
        this.gradAccum = gradAccum;
        this.seed = seed;
        this.weights = new double[sources.size()];
        double sum = 0;
        long perEpoch = 0;
        for (int i = 0; i < sources.size(); i++) {
            Source s = sources.get(i);
            if (!(s.weight() > 0) || !Double.isFinite(s.weight())) {
                throw new IllegalArgumentException("the weight of " + s.name() + " must be positive, got " + s.weight());
            }
            Stream st = new Stream(s, seqLen, seed * 1_000_003L + i);
            this.sources.add(st);
            weights[i] = s.weight();
            sum += s.weight();
            perEpoch += st.samplesPerEpoch;
        }
        for (int i = 0; i < weights.length; i++) weights[i] /= sum;
        this.samplesPerEpoch = perEpoch;
        this.drawn = new long[sources.size()];
    }

    /**
     * Refuses, when a sample is drawn, token ids at or above {@code vocabSize}, naming the dataset: data preprocessed
     * with another tokenizer than the model's. Checked per sample rather than over whole datasets before training.
     */
    public PretrainSamples checkIds(int vocabSize) {
        this.vocabSize = vocabSize;
        return this;
    }

    /** Samples of one pass over every source's split (sources with more weight than data repeat within it). */
    @Override
    public long rows() {
        return samplesPerEpoch;
    }

    @Override
    public int stepsPerEpoch() {
        return (int) Math.max(1, Math.min(Integer.MAX_VALUE, samplesPerEpoch / ((long) batchSize * gradAccum)));
    }

    @Override
    public int batchSize() {
        return batchSize;
    }

    @Override
    public int gradAccum() {
        return gradAccum;
    }

    /** A hash of each source's index file (the documents' lengths and order), split range and weight. */
    @Override
    public String rowsFingerprint() {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            for (int i = 0; i < sources.size(); i++) {
                Source s = sources.get(i).source;
                try (InputStream in = Files.newInputStream(IndexedDataset.idx(s.data().prefix()))) {
                    byte[] buf = new byte[1 << 16];
                    for (int n; (n = in.read(buf)) > 0; ) sha.update(buf, 0, n);
                }
                sha.update((s.firstDoc() + ":" + s.endDoc() + ":" + weights[i] + ";").getBytes());
            }
            return HexFormat.of().formatHex(sha.digest(), 0, 8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public List<MicroBatch> step(int step) {
        long first = (long) step * batchSize * gradAccum;
        List<MicroBatch> out = new ArrayList<>(gradAccum);
        for (int m = 0; m < gradAccum; m++) {
            List<SftExample> rows = new ArrayList<>(batchSize);
            for (int b = 0; b < batchSize; b++) rows.add(sample(first + (long) m * batchSize + b));
            out.add(MicroBatch.of(rows));
        }
        return out;
    }

    /** The first {@code count} samples, in order: the validation rows of a split. */
    public List<SftExample> first(int count) {
        List<SftExample> out = new ArrayList<>(count);
        for (int k = 0; k < count; k++) out.add(sample(k));
        return out;
    }

    /** Global sample {@code k}: ids and labels are the same {@code seqLen + 1} tokens (the model shifts). */
    public synchronized SftExample sample(long k) {
        if (k >= Integer.MAX_VALUE) throw new IllegalArgumentException("sample " + k + " is past what one run can draw");
        blendTo((int) k + 1);
        Stream source = sources.get(sourceOf[(int) k]);
        int[] tokens = source.sample(indexOf[(int) k]);
        for (int id : tokens) {
            if (id >= vocabSize) {
                throw new IllegalArgumentException(source.source.name() + " holds token id " + id + " but the model's "
                        + "vocab_size is " + vocabSize + ": preprocess with the model's tokenizer, or give a shape whose "
                        + "vocab_size covers it");
            }
        }
        return new SftExample(tokens, tokens);
    }

    /** Megatron's blending: each next sample to the source whose count falls furthest behind weight × samples. */
    private void blendTo(int n) {
        if (n <= blended) return;
        if (n > sourceOf.length) {
            int size = Math.max(n, sourceOf.length * 2);
            sourceOf = Arrays.copyOf(sourceOf, size);
            indexOf = Arrays.copyOf(indexOf, size);
        }
        for (int k = blended; k < n; k++) {
            int best = 0;
            double bestGap = Double.NEGATIVE_INFINITY;
            for (int s = 0; s < weights.length; s++) {
                double gap = weights[s] * (k + 1) - drawn[s];
                if (gap > bestGap) {
                    bestGap = gap;
                    best = s;
                }
            }
            sourceOf[k] = best;
            indexOf[k] = drawn[best]++;
        }
        blended = n;
    }

    /** One source's samples: its documents' tokens in a shuffled order per epoch, cut every seqLen tokens. */
    private static final class Stream {
        final Source source;
        final int seqLen;
        final long seed;
        final int[] docs;
        final long tokens, samplesPerEpoch;
        /** The epoch whose order {@link #order} and {@link #starts} hold, or -1. */
        long epoch = -1;
        int[] order;
        long[] starts;

        Stream(Source s, int seqLen, long seed) {
            this.source = s;
            this.seqLen = seqLen;
            this.seed = seed;
            IndexedDataset d = s.data();
            if (s.firstDoc() < 0 || s.endDoc() > d.documentCount() || s.firstDoc() > s.endDoc()) {
                throw new IllegalArgumentException(s.name() + ": documents " + s.firstDoc() + ".." + s.endDoc()
                        + " outside its " + d.documentCount());
            }
            List<Integer> nonEmpty = new ArrayList<>();
            long n = 0;
            for (int doc = s.firstDoc(); doc < s.endDoc(); doc++) {
                long len = docLength(doc);
                if (len > 0) {
                    nonEmpty.add(doc);
                    n += len;
                }
            }
            this.docs = nonEmpty.stream().mapToInt(Integer::intValue).toArray();
            this.tokens = n;
            this.samplesPerEpoch = n > 0 ? (n - 1) / seqLen : 0;
            if (samplesPerEpoch == 0) {
                throw new IllegalArgumentException(s.name() + " has " + n + " tokens in documents " + s.firstDoc() + ".."
                        + s.endDoc() + ", fewer than one sample of --seq-len " + seqLen + " + 1: use more data or a "
                        + "shorter --seq-len");
            }
        }

        long docLength(int doc) {
            int[] seqs = source.data().documentSequences(doc);
            long len = 0;
            for (int q = seqs[0]; q < seqs[1]; q++) len += source.data().length(q);
            return len;
        }

        int[] sample(long j) {
            long e = j / samplesPerEpoch;
            if (e != epoch) arrange(e);
            long at = (j % samplesPerEpoch) * seqLen;
            int[] out = new int[seqLen + 1];
            int i = Arrays.binarySearch(starts, at);
            if (i < 0) i = -i - 2;
            int filled = 0;
            long offset = at - starts[i];
            while (filled < out.length) {
                filled += copy(order[i], offset, out, filled);
                offset = 0;
                i = (i + 1) % order.length;
            }
            return out;
        }

        /** Copies from token {@code offset} of document {@code doc} into out at {@code at}; returns the count. */
        private int copy(int doc, long offset, int[] out, int at) {
            int[] seqs = source.data().documentSequences(doc);
            int copied = 0;
            for (int q = seqs[0]; q < seqs[1] && at + copied < out.length; q++) {
                int len = source.data().length(q);
                if (offset >= len) {
                    offset -= len;
                    continue;
                }
                int n = (int) Math.min(len - offset, out.length - at - copied);
                source.data().read(q, (int) offset, n, out, at + copied);
                copied += n;
                offset = 0;
            }
            return copied;
        }

        /** The documents' order in epoch {@code e} and where each starts in that epoch's token stream. */
        private void arrange(long e) {
            order = docs.clone();
            Random r = new Random(seed * 31 + e);
            for (int i = order.length - 1; i > 0; i--) {
                int j = r.nextInt(i + 1);
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
            starts = new long[order.length];
            long pos = 0;
            for (int i = 0; i < order.length; i++) {
                starts[i] = pos;
                pos += docLength(order[i]);
            }
            epoch = e;
        }
    }
}
