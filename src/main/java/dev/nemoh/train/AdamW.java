package dev.nemoh.train;

import java.util.ArrayList;
import java.util.List;

/**
 * Adam with decoupled weight decay, step for step as {@code torch.optim.AdamW} (default, non-amsgrad, non-fused):
 * the decay shrinks the value before the moment update, and both moments are bias-corrected. Arithmetic runs in
 * float32 like torch's, except the per-step scalars (bias corrections, step size), which torch also keeps in double.
 */
public final class AdamW implements Optimizer {
    private final List<Parameter> params;
    private final double beta1;
    private final double beta2;
    private final double eps;
    private final double weightDecay;
    private final List<float[]> m = new ArrayList<>();
    private final List<float[]> v = new ArrayList<>();
    private long steps;

    public AdamW(List<Parameter> params, double beta1, double beta2, double eps, double weightDecay) {
        Optimizer.checkAdamW(beta1, beta2, eps, weightDecay);
        this.params = List.copyOf(params);
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.weightDecay = weightDecay;
        for (Parameter p : this.params) {
            m.add(new float[p.numel()]);
            v.add(new float[p.numel()]);
        }
    }

    @Override
    public double clipGradients(double maxNorm) {
        return GradientClipping.clip(params, maxNorm);
    }

    /** One update of every parameter from its accumulated {@code grad}, which it then clears. */
    @Override
    public void step(double lr) {
        steps++;
        double bc1 = 1 - Math.pow(beta1, steps);
        double bc2Sqrt = Math.sqrt(1 - Math.pow(beta2, steps));
        float decay = (float) (1 - lr * weightDecay);
        float stepSize = (float) (lr / bc1);
        float oneMinusB1 = (float) (1 - beta1), b2 = (float) beta2, oneMinusB2 = (float) (1 - beta2);
        float epsF = (float) eps, bc2SqrtF = (float) bc2Sqrt;
        for (int i = 0; i < params.size(); i++) {
            Parameter p = params.get(i);
            float[] value = p.value, grad = p.grad, mi = m.get(i), vi = v.get(i);
            for (int j = 0; j < value.length; j++) {
                float g = grad[j];
                value[j] *= decay;
                mi[j] += oneMinusB1 * (g - mi[j]); // torch's lerp_, same rounding
                vi[j] = vi[j] * b2 + oneMinusB2 * g * g;
                float denom = (float) Math.sqrt(vi[j]) / bc2SqrtF + epsF;
                value[j] -= stepSize * (mi[j] / denom); // torch addcdiv_: value · (m / denom)
            }
        }
        for (Parameter p : params) p.zeroGrad();
    }

    /** Optimizer steps taken so far (torch's {@code state['step']}). */
    @Override
    public long steps() {
        return steps;
    }

    /** First moment of parameter {@code i}, live (for checkpoints). */
    @Override
    public float[] m(int i) {
        return m.get(i);
    }

    /** Second moment of parameter {@code i}, live (for checkpoints). */
    @Override
    public float[] v(int i) {
        return v.get(i);
    }

    /** Resumes from a checkpoint: the step count and a copy of each parameter's moments, in {@link #params} order. */
    @Override
    public void restore(long steps, List<float[]> m, List<float[]> v) {
        Optimizer.checkState(params, steps, m, v);
        for (int i = 0; i < params.size(); i++) {
            System.arraycopy(m.get(i), 0, this.m.get(i), 0, params.get(i).numel());
            System.arraycopy(v.get(i), 0, this.v.get(i), 0, params.get(i).numel());
        }
        this.steps = steps;
    }
}
