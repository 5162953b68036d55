package dev.nemoh.train;

import java.util.List;

/**
 * What the training loop asks of an optimizer, wherever the parameters live: {@link AdamW} over host arrays, or a
 * GPU backend's fused AdamW over device buffers. Moments come out and go in as host arrays, in the model's
 * parameter order, so a checkpoint written by one resumes on the other.
 */
public interface Optimizer {
    /**
     * Scales the gradients by {@code maxNorm / (norm + 1e-6)} when their global L2 norm exceeds {@code maxNorm}
     * (torch's {@code clip_grad_norm_}; 0 only measures) and returns the norm before clipping.
     */
    double clipGradients(double maxNorm);

    /** One update of every parameter at rate {@code lr} from its accumulated gradient, which it then clears. */
    void step(double lr);

    /** Optimizer steps taken so far (torch's {@code state['step']}). */
    long steps();

    /** First moment of parameter {@code i}, as a host array. */
    float[] m(int i);

    /** Second moment of parameter {@code i}, as a host array. */
    float[] v(int i);

    /** Resumes from a checkpoint: the step count and each parameter's moments, in the model's parameter order. */
    void restore(long steps, List<float[]> m, List<float[]> v);
}
