package dev.nemoh.train.data;

import java.util.List;

/**
 * Which rows each optimizer step trains on, as a pure function of the step number (so resuming at step k needs no
 * saved data-loader state): fine-tuning's shuffled epochs ({@link StepPlan}) or pretraining's blended samples
 * ({@link PretrainSamples}).
 */
public interface BatchPlan {
    /** The micro-batches of optimizer step {@code step} (0-based, counted over all epochs). */
    List<MicroBatch> step(int step);

    int batchSize();

    int gradAccum();

    /** The rows of one pass over the data. */
    long rows();

    int stepsPerEpoch();

    /** The data's content, for checkpoints to check a resume against. */
    String rowsFingerprint();
}
