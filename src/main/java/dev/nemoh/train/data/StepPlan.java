package dev.nemoh.train.data;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;

/**
 * Which rows each optimizer step trains on: every epoch visits all rows once in an order shuffled with the seed and
 * the epoch number, {@code batchSize} rows per micro-batch and {@code gradAccum} micro-batches per step (the last
 * step of an epoch may get fewer). The plan is a pure function of the seed and the step number, so resuming at step
 * k needs no saved data-loader state.
 */
public final class StepPlan implements BatchPlan {
    private final List<SftExample> rows;
    private final int batchSize;
    private final int gradAccum;
    private final long seed;

    public StepPlan(List<SftExample> rows, int batchSize, int gradAccum, long seed) {
        if (rows.isEmpty()) throw new IllegalArgumentException("no training rows");
        if (batchSize < 1) throw new IllegalArgumentException("--batch-size must be at least 1, got " + batchSize);
        if (gradAccum < 1) throw new IllegalArgumentException("--grad-accum must be at least 1, got " + gradAccum);
        this.rows = List.copyOf(rows);
        this.batchSize = batchSize;
        this.gradAccum = gradAccum;
        this.seed = seed;
    }

    @Override
    public int stepsPerEpoch() {
        int perStep = batchSize * gradAccum;
        return (rows.size() + perStep - 1) / perStep;
    }

    @Override
    public String rowsFingerprint() {
        return SftExample.fingerprint(rows);
    }

    @Override
    public int batchSize() {
        return batchSize;
    }

    @Override
    public int gradAccum() {
        return gradAccum;
    }

    @Override
    public long rows() {
        return rows.size();
    }

    @Override
    public List<MicroBatch> step(int step) {
        int epoch = step / stepsPerEpoch();
        List<Integer> order = new ArrayList<>(rows.size());
        for (int i = 0; i < rows.size(); i++) order.add(i);
        Collections.shuffle(order, new Random(seed * 1_000_003L + epoch));
        int perStep = batchSize * gradAccum;
        int from = (step % stepsPerEpoch()) * perStep;
        List<SftExample> picked = new ArrayList<>();
        for (int i = from; i < Math.min(rows.size(), from + perStep); i++) picked.add(rows.get(order.get(i)));
        return batches(picked, batchSize);
    }

    /** {@code rows} in order, {@code batchSize} at a time (evaluation). */
    public static List<MicroBatch> batches(List<SftExample> rows, int batchSize) {
        List<MicroBatch> out = new ArrayList<>();
        for (int i = 0; i < rows.size(); i += batchSize) {
            out.add(MicroBatch.of(rows.subList(i, Math.min(rows.size(), i + batchSize))));
        }
        return out;
    }
}
