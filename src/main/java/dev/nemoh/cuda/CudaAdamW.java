package dev.nemoh.cuda;

import dev.nemoh.train.Optimizer;
import dev.nemoh.train.Parameter;

import java.util.List;

/**
 * AdamW over the GPU's flat parameter buffers, the same update as {@code train.AdamW} (adamw.cu rounds each
 * operation as the CPU does): float32 moments on the device, gradient clipping folded into the update as a scale,
 * gradients cleared by it.
 */
final class CudaAdamW implements Optimizer {
    private final CudaTraining t;
    private final CudaParameters params;
    private final double beta1, beta2, eps, weightDecay;
    private final long m, v;
    private long steps;
    /** the clipping scale of the coming step: 1, or maxNorm / (norm + 1e-6) */
    private float gradScale = 1f;

    CudaAdamW(CudaTraining t, CudaParameters params, double beta1, double beta2, double eps, double weightDecay) {
        Optimizer.checkAdamW(beta1, beta2, eps, weightDecay);
        this.t = t;
        this.params = params;
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.weightDecay = weightDecay;
        this.m = t.cuda.allocZeroed(GpuMemory.Part.TRAINING, 4 * Math.max(1, params.count));
        this.v = t.cuda.allocZeroed(GpuMemory.Part.TRAINING, 4 * Math.max(1, params.count));
    }

    @Override
    public double clipGradients(double maxNorm) {
        double norm = Math.sqrt(t.sumSquares(params.grads, params.count));
        double coef = maxNorm / (norm + 1e-6);
        gradScale = maxNorm > 0 && coef < 1 ? (float) coef : 1f;
        return norm;
    }

    @Override
    public void step(double lr) {
        steps++;
        double bc1 = 1 - Math.pow(beta1, steps);
        double bc2Sqrt = Math.sqrt(1 - Math.pow(beta2, steps));
        long n = params.count;
        t.k.adamw(CudaTraining.grid(n), 1, CudaTraining.THREADS, params.values, params.grads, m, v, n, gradScale,
                (float) (1 - lr * weightDecay), (float) (lr / bc1), (float) (1 - beta1), (float) beta2,
                (float) (1 - beta2), (float) eps, (float) bc2Sqrt);
        gradScale = 1f;
    }

    @Override
    public long steps() {
        return steps;
    }

    @Override
    public float[] m(int i) {
        return slice(m, i);
    }

    @Override
    public float[] v(int i) {
        return slice(v, i);
    }

    private float[] slice(long buffer, int i) {
        Parameter p = params.parameters.get(i);
        return t.cuda.downloadFloats(buffer + (params.of(p).value() - params.values), p.numel());
    }

    @Override
    public void restore(long steps, List<float[]> m, List<float[]> v) {
        List<Parameter> ps = params.parameters;
        Optimizer.checkState(ps, steps, m, v);
        for (int i = 0; i < ps.size(); i++) {
            long at = params.of(ps.get(i)).value() - params.values;
            t.cuda.upload(this.m + at, m.get(i));
            t.cuda.upload(this.v + at, v.get(i));
        }
        this.steps = steps;
    }

    void free() {
        t.cuda.free(m);
        t.cuda.free(v);
    }
}
