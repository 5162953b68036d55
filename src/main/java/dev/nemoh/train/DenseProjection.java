package dev.nemoh.train;

import dev.nemoh.kernels.MatMul;

/** A plain linear layer over float32 parameters; frozen ones (under an adapter) pass gradients through only. */
final class DenseProjection implements Projection {
    final Parameter weight;
    final Parameter bias;
    final boolean trainable;
    final int out, in;
    private float[] x;

    DenseProjection(Parameter weight, Parameter bias, boolean trainable) {
        this.weight = weight;
        this.bias = bias;
        this.trainable = trainable;
        this.out = weight.shape[0];
        this.in = weight.shape[1];
    }

    @Override
    public float[] forward(float[] x, int rows) {
        this.x = x;
        float[] y = MatMul.matmul(x, rows, weight.value, out, in);
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
        MatMul.matmulBackward(dy, x, rows, weight.value, out, in, dx, trainable ? weight.grad : null);
        if (bias != null && trainable) {
            for (int r = 0; r < rows; r++) {
                for (int o = 0; o < out; o++) bias.grad[o] += dy[r * out + o];
            }
        }
        return dx;
    }
}
