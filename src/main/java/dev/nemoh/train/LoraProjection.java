package dev.nemoh.train;

import dev.nemoh.kernels.MatMul;
import dev.nemoh.model.LoraAdapter;
import dev.nemoh.kernels.Vec;
import dev.nemoh.kernels.WeightMatrix;

import java.util.Arrays;
import java.util.Random;
import java.util.function.BooleanSupplier;

/**
 * A frozen linear layer with a LoRA adapter, as PEFT 0.21 computes it: {@code y = W x + b + s · B A drop(x)}. With
 * DoRA, {@code y = W x + b + (m/‖W + s BA‖ − 1) · W drop(x) + m/‖W + s BA‖ · s · B A drop(x)}, the row norms
 * recomputed at every forward but treated as constants by the gradient (the DoRA paper's section 4.3, as PEFT does).
 */
final class LoraProjection implements Projection {
    /** W as stored: bf16 read in place, never copied, no gradient */
    final WeightMatrix weight;
    final float[] bias;
    final Parameter loraA, loraB, magnitude;
    final int out, in, r;
    final float scaling;
    private final double dropout;
    private final Random rng;
    private final BooleanSupplier training;

    private float[] x, dropped, mask, ax, bx, baseDropped, rowScale, rowNorm;

    LoraProjection(WeightMatrix weight, float[] bias, Parameter loraA, Parameter loraB, Parameter magnitude,
                   double scaling, double dropout, Random rng, BooleanSupplier training) {
        this.weight = weight;
        this.bias = bias;
        this.loraA = loraA;
        this.loraB = loraB;
        this.magnitude = magnitude;
        this.r = loraA.shape[0];
        this.in = loraA.shape[1];
        this.out = loraB.shape[0];
        this.scaling = (float) scaling;
        this.dropout = dropout;
        this.rng = rng;
        this.training = training;
    }

    /**
     * {@code W[o, :] + s · (B A)[o, :]} into row: a row of the weight the adapter stands for, W read as stored;
     * delta [in] is scratch.
     */
    private void adaptedRow(int o, float[] row, float[] delta) {
        weight.widen(o, 0, in, row, 0);
        Arrays.fill(delta, 0f);
        for (int k = 0; k < r; k++) Vec.axpy(loraB.value[o * r + k], loraA.value, k * in, delta, 0, in);
        for (int i = 0; i < in; i++) row[i] += scaling * delta[i];
    }

    /** The row norms ‖W + s BA‖: DoRA's denominators, as inference computes them. */
    float[] adaptedRowNorms() {
        return LoraAdapter.adaptedRowNorms(weight, 1f, loraA.value, loraB.value, r, scaling);
    }

    /** The weight to merge into the base checkpoint: {@code W + s BA}, rescaled per row to m under DoRA. */
    float[] mergedWeight() {
        float[] w = new float[out * in];
        float[] norms = magnitude == null ? null : adaptedRowNorms();
        float[] row = new float[in], delta = new float[in];
        for (int o = 0; o < out; o++) {
            adaptedRow(o, row, delta);
            float f = norms == null ? 1f : magnitude.value[o] / norms[o];
            for (int i = 0; i < in; i++) w[o * in + i] = norms == null ? row[i] : row[i] * f;
        }
        return w;
    }

    @Override
    public float[] forward(float[] x, int rows) {
        this.x = x;
        boolean drop = dropout > 0 && training.getAsBoolean();
        mask = drop ? dropoutMask(x.length) : null;
        dropped = x;
        if (drop) {
            dropped = new float[x.length];
            for (int i = 0; i < x.length; i++) dropped[i] = x[i] * mask[i];
        }
        float[] y = MatMul.matmul(x, rows, weight);
        ax = MatMul.matmul(dropped, rows, loraA.value, r, in);
        bx = MatMul.matmul(ax, rows, loraB.value, out, r);
        if (magnitude != null) {
            rowNorm = adaptedRowNorms();
            rowScale = new float[out];
            for (int o = 0; o < out; o++) rowScale[o] = magnitude.value[o] / rowNorm[o];
            baseDropped = drop ? MatMul.matmul(dropped, rows, weight) : y.clone();
        }
        for (int row = 0; row < rows; row++) {
            for (int o = 0; o < out; o++) {
                int i = row * out + o;
                float lora = scaling * bx[i];
                if (magnitude != null) y[i] += (rowScale[o] - 1) * baseDropped[i] + rowScale[o] * lora;
                else y[i] += lora;
                if (bias != null) y[i] += bias[o];
            }
        }
        return y;
    }

    private float[] dropoutMask(int n) {
        float keep = (float) (1 / (1 - dropout));
        float[] m = new float[n];
        for (int i = 0; i < n; i++) m[i] = rng.nextDouble() < dropout ? 0f : keep;
        return m;
    }

    @Override
    public float[] backward(float[] dy, int rows) {
        float[] dx = new float[rows * in];
        MatMul.matmulInputGrad(dy, rows, weight, dx);
        float[] dBx = new float[dy.length];
        float[] dDropped = new float[rows * in];
        if (magnitude != null) {
            float[] dBase = new float[dy.length];
            for (int row = 0; row < rows; row++) {
                for (int o = 0; o < out; o++) {
                    int i = row * out + o;
                    dBx[i] = rowScale[o] * scaling * dy[i];
                    dBase[i] = (rowScale[o] - 1) * dy[i];
                    magnitude.grad[o] += dy[i] * (baseDropped[i] + scaling * bx[i]) / rowNorm[o];
                }
            }
            MatMul.matmulInputGrad(dBase, rows, weight, dDropped);
        } else {
            for (int i = 0; i < dy.length; i++) dBx[i] = scaling * dy[i];
        }
        float[] dAx = new float[rows * r];
        MatMul.matmulBackward(dBx, ax, rows, loraB.value, out, r, dAx, loraB.grad);
        MatMul.matmulBackward(dAx, dropped, rows, loraA.value, r, in, dDropped, loraA.grad);
        for (int i = 0; i < dx.length; i++) dx[i] += mask == null ? dDropped[i] : dDropped[i] * mask[i];
        return dx;
    }
}
