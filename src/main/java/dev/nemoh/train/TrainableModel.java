package dev.nemoh.train;

import java.util.List;
import java.util.Map;

/**
 * What the training loop needs from a model being fine-tuned, whether all its weights train or only adapters.
 * Labels follow transformers: -100 marks an ignored position, and position t's logits predict {@code labels[t + 1]}.
 */
public interface TrainableModel {
    /** Sum of token cross-entropies and how many targets it covers. */
    record LossSum(double sum, long targets) {
        public double mean() {
            return targets == 0 ? 0 : sum / targets;
        }
    }

    /** The parameters that train, in a fixed order (optimizer state and checkpoints follow it). */
    List<Parameter> parameters();

    /**
     * Forward and backward over rows of token ids. Adds d(sum of token losses / normalizer)/d(parameter) to every
     * parameter's {@code grad} (so micro-batches of one optimizer step share one normalizer, the step's target count)
     * and returns the unnormalised loss sum.
     */
    LossSum lossAndBackward(int[][] inputIds, int[][] labels, double normalizer);

    /** Forward only, for evaluation. */
    LossSum loss(int[][] inputIds, int[][] labels);

    /** Dropout is active only while training. */
    void setTraining(boolean training);

    /**
     * Seeds the dropout masks of the passes that follow. The trainer calls it before every optimizer step with a
     * seed made from the run's seed and the step number, so a run resumed from a checkpoint draws the same masks
     * as one that never stopped. A model with dropout must override it; one without has nothing to seed.
     */
    default void seedDropout(long seed) {}

    /**
     * What a checkpoint of this model must share with a run resuming from it, beyond its parameters' names and
     * shapes: the base model's identity and the adapter settings, by the names of the options that set them. A key
     * ending in {@code _path} is information shown beside its namesake, never compared (a moved model is the same).
     * Values are strings, numbers or booleans.
     */
    default Map<String, Object> fingerprint() {
        return Map.of();
    }

    /**
     * The optimizer over {@link #parameters()}: AdamW on the host arrays, unless the model computes elsewhere (a GPU
     * model updates its device buffers and returns its own).
     */
    default Optimizer optimizer(double beta1, double beta2, double eps, double weightDecay) {
        return new AdamW(parameters(), beta1, beta2, eps, weightDecay);
    }

    /** Called after every optimizer step: a model that derives copies from its parameters refreshes them. */
    default void afterStep() {}

    /** Makes the host {@link Parameter} values current (before a checkpoint or an export reads them). */
    default void pullParameters() {}

    /** Takes new host {@link Parameter} values (after a checkpoint was restored into them). */
    default void pushParameters() {}

    /** Where and how the model computes, for the log ("cpu", "cuda bf16"...); not part of the fingerprint. */
    default String device() {
        return "cpu";
    }
}
