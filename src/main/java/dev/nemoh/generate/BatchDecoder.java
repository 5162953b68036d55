package dev.nemoh.generate;

import dev.nemoh.model.LanguageModel;

import java.util.Arrays;

/**
 * One batched decode step that also picks every row's next token, in two halves so that a caller can do its host
 * work (detokenizing, stop strings, streaming the previous step's tokens) while the model computes this step:
 * {@link #start} queues the step, {@link Step#finish} waits for it. A model that samples where it computes (the GPU)
 * implements this itself; {@link #of} gives that, or for any other model one that runs
 * {@link LanguageModel#decodeBatch} in {@code start} and leaves every pick to the host's samplers.
 */
public interface BatchDecoder {
    /**
     * Queues one step: {@code tokens[b]} continues {@code states[b]}, and {@code samplers[b]} (its request's, not
     * advanced: the caller {@linkplain Sampler#accept accepts} what it appends) may pick the row's next token.
     */
    Step start(int[] tokens, LanguageModel.SequenceState[] states, Sampler[] samplers);

    /** A queued step. */
    interface Step {
        /** Waits for the step and returns its picks. */
        Picks finish();
    }

    /**
     * What a step gave.
     *
     * @param tokens      each row's pick, or -1 where {@code logits[b]} holds the row's logits for the host's sampler
     * @param logits      per row, the logits [vocab] where {@code tokens[b]} is -1, else null
     * @param decodeNanos time of the forward pass (on the device, where the model measures it there)
     * @param sampleNanos time of the picks made by the model (0 where the host picks them all)
     * @param copyNanos   time of the copies of picks and logits back to the host (0 where there are none)
     */
    record Picks(int[] tokens, float[][] logits, long decodeNanos, long sampleNanos, long copyNanos) {}

    /** The model's own decoder, or one that decodes with {@link LanguageModel#decodeBatch} and samples on the host. */
    static BatchDecoder of(LanguageModel model) {
        if (model instanceof BatchDecoder own) return own;
        return (tokens, states, samplers) -> {
            long t0 = System.nanoTime();
            float[] logits = model.decodeBatch(tokens, states);
            long nanos = System.nanoTime() - t0;
            int v = model.config().vocabSize;
            float[][] rows = new float[tokens.length][];
            for (int b = 0; b < rows.length; b++) rows[b] = Arrays.copyOfRange(logits, b * v, (b + 1) * v);
            int[] none = new int[tokens.length];
            Arrays.fill(none, -1);
            Picks picks = new Picks(none, rows, nanos, 0, 0);
            return () -> picks;
        };
    }
}
