package dev.nemoh.train;

import dev.nemoh.kernels.FloatWeights;
import dev.nemoh.kernels.MatMul;
import dev.nemoh.kernels.WeightMatrix;

/**
 * A plain linear layer. Trained, its weight is a float32 {@link Parameter} (read live through {@link FloatWeights});
 * frozen (under an adapter), it is the checkpoint's matrix as stored (bf16 mapped in place) and passes gradients
 * through only.
 */
final class DenseProjection implements Projection {
    /** the trained weight, or null when frozen */
    final Parameter trained;
    final WeightMatrix weight;
    final Parameter bias;
    final int out, in;
    private float[] x;

    /** A layer over a float32 weight, trained or not (then it and the bias only pass gradients through). */
    DenseProjection(Parameter weight, Parameter bias, boolean trainable) {
        this(new FloatWeights(weight.name, weight.value, weight.shape[0], weight.shape[1]), trainable ? weight : null, bias);
    }

    /** A frozen layer over W as stored; the bias (if any) does not train either. */
    DenseProjection(WeightMatrix weight, Parameter bias) {
        this(weight, null, bias);
    }

    private DenseProjection(WeightMatrix weight, Parameter trained, Parameter bias) {
        this.weight = weight;
        this.trained = trained;
        this.bias = bias;
        this.out = weight.rows();
        this.in = weight.cols();
    }

    @Override
    public float[] forward(float[] x, int rows) {
        this.x = x;
        float[] y = MatMul.matmul(x, rows, weight);
        if (bias != null) {
            for (int r = 0; r < rows; r++) {
                for (int o = 0; o < out; o++) y[r * out + o] += bias.value[o];
            }
        }
        return y;
    }

    @Override
    public float[] backward(float[] dy, int rows) {
        float[] dx = new float[rows * in];
        MatMul.matmulBackward(dy, x, rows, weight, dx, trained != null ? trained.grad : null);
        if (bias != null && trained != null) {
            for (int r = 0; r < rows; r++) {
                for (int o = 0; o < out; o++) bias.grad[o] += dy[r * out + o];
            }
        }
        return dx;
    }
}
