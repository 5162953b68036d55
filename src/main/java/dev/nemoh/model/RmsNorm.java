package dev.nemoh.model;

/**
 * RMSNorm as NemotronHRMSNorm: {@code w · x / sqrt(mean(x²) + eps)} over the last dimension. With {@code groups > 1}
 * each contiguous group is normalised on its own (the Mamba gated norm).
 */
public final class RmsNorm {
    public final float[] weight;
    public final float eps;
    private final int groups;

    public RmsNorm(float[] weight, double eps, int groups) {
        if (weight.length % groups != 0) {
            throw new IllegalArgumentException("norm width " + weight.length + " does not split into " + groups + " groups");
        }
        this.weight = weight;
        this.eps = (float) eps;
        this.groups = groups;
    }

    public float[] forward(float[] x, int rows) {
        float[] y = new float[x.length];
        int dim = weight.length;
        int g = dim / groups;
        for (int r = 0; r < rows; r++) {
            for (int k = 0; k < groups; k++) {
                int off = r * dim + k * g;
                float ss = 0;
                for (int i = 0; i < g; i++) ss += x[off + i] * x[off + i];
                float inv = (float) (1.0 / Math.sqrt(ss / g + eps));
                for (int i = 0; i < g; i++) y[off + i] = weight[k * g + i] * (x[off + i] * inv);
            }
        }
        return y;
    }

    /**
     * Gradient of {@link #forward} at input x: with {@code r = 1/sqrt(mean(x²) + eps)} per group,
     * {@code dx = r·(w⊙dy) − r³/g · x · Σ(w⊙dy⊙x)} and {@code dw += dy⊙x·r}. Adds into dx and (when not null) dWeight.
     */
    public void backward(float[] dy, float[] x, int rows, float[] dx, float[] dWeight) {
        int dim = weight.length;
        int g = dim / groups;
        for (int r = 0; r < rows; r++) {
            for (int k = 0; k < groups; k++) {
                int off = r * dim + k * g;
                float ss = 0, dot = 0;
                for (int i = 0; i < g; i++) {
                    ss += x[off + i] * x[off + i];
                    dot += weight[k * g + i] * dy[off + i] * x[off + i];
                }
                float inv = (float) (1.0 / Math.sqrt(ss / g + eps));
                float coef = inv * inv * inv * dot / g;
                for (int i = 0; i < g; i++) {
                    dx[off + i] += inv * weight[k * g + i] * dy[off + i] - coef * x[off + i];
                    if (dWeight != null) dWeight[k * g + i] += dy[off + i] * x[off + i] * inv;
                }
            }
        }
    }
}
