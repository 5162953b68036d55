package dev.nemoh.train;

import java.util.List;

/**
 * Clipping by global norm as torch's {@code clip_grad_norm_}: the L2 norm over every gradient of every parameter
 * together, and when it exceeds {@code maxNorm} all gradients are scaled by {@code maxNorm / (norm + 1e-6)}.
 */
public final class GradientClipping {
    private GradientClipping() {}

    /**
     * Clips the gradients of {@code params} in place and returns their norm before clipping (what the loss curve
     * reports). A {@code maxNorm} of 0 or less only measures, as the HF Trainer's {@code max_grad_norm=0} does.
     */
    public static double clip(List<Parameter> params, double maxNorm) {
        double sumSquares = 0;
        for (Parameter p : params) {
            for (float g : p.grad) sumSquares += (double) g * g;
        }
        double norm = Math.sqrt(sumSquares);
        double coef = maxNorm / (norm + 1e-6);
        if (maxNorm > 0 && coef < 1) {
            float c = (float) coef;
            for (Parameter p : params) {
                float[] g = p.grad;
                for (int i = 0; i < g.length; i++) g[i] *= c;
            }
        }
        return norm;
    }
}
