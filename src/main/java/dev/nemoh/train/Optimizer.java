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

    /** Refuses AdamW hyperparameters outside their domain, in one line. */
    static void checkAdamW(double beta1, double beta2, double eps, double weightDecay) {
        if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1)) {
            throw new IllegalArgumentException("AdamW betas must lie in [0, 1), got " + beta1 + ", " + beta2);
        }
        if (!(eps > 0)) throw new IllegalArgumentException("AdamW eps must be positive, got " + eps);
        if (!(weightDecay >= 0)) throw new IllegalArgumentException("AdamW weight decay must be >= 0, got " + weightDecay);
    }

    /** Refuses a checkpoint's optimizer state that does not fit {@code params}, naming what differs. */
    static void checkState(List<Parameter> params, long steps, List<float[]> m, List<float[]> v) {
        if (steps < 0) throw new IllegalArgumentException("AdamW step count must be >= 0, got " + steps);
        if (m.size() != params.size() || v.size() != params.size()) {
            throw new IllegalArgumentException("AdamW state holds " + m.size() + "/" + v.size()
                    + " moment tensors but the model trains " + params.size() + " parameters: resume with the same"
                    + " model and adapter settings");
        }
        for (int i = 0; i < params.size(); i++) {
            Parameter p = params.get(i);
            if (m.get(i).length != p.numel() || v.get(i).length != p.numel()) {
                throw new IllegalArgumentException("AdamW state for " + p.name + " holds " + m.get(i).length + "/"
                        + v.get(i).length + " values, the parameter " + p.numel()
                        + ": resume with the same model and adapter settings");
            }
        }
    }
}
