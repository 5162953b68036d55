package dev.nemoh.model;

import dev.nemoh.config.LinearSpec;
import dev.nemoh.config.TensorSpec;
import dev.nemoh.io.Checkpoint;
import dev.nemoh.io.CheckpointException;
import dev.nemoh.kernels.DenseWeights;
import dev.nemoh.kernels.GgmlWeights;
import dev.nemoh.kernels.MatMul;
import dev.nemoh.kernels.QuantizedWeights;
import dev.nemoh.kernels.WeightMatrix;
import dev.nemoh.tensor.DType;
import dev.nemoh.tensor.Tensor;

/**
 * A linear layer {@code y = x Wᵀ + b} with W [out, in], kept in the checkpoint's mapping or quantized on load. FP8
 * weights carry a {@code weight_scale} tensor (one scale per tensor) that multiplies every output.
 */
public final class Linear {
    public final String name;
    public final int in;
    public final int out;
    public final WeightMatrix weight;
    /** Multiplies every output (FP8 per-tensor scale; 1 otherwise). */
    public final float scale;
    /** [out], or null */
    public final float[] bias;

    public Linear(String name, WeightMatrix weight, float scale, float[] bias) {
        this.name = name;
        this.weight = weight;
        this.out = weight.rows();
        this.in = weight.cols();
        this.scale = scale;
        this.bias = bias;
    }

    /** Loads the layer's weight and, when present, its bias and FP8 {@code weight_scale}. */
    public static Linear load(Checkpoint ckpt, LinearSpec spec, WeightFormat format) {
        Tensor w = ckpt.get(spec.weight());
        float scale = weightScale(ckpt, spec.weight(), w);
        Tensor bias = ckpt.find(spec.bias());
        return new Linear(spec.prefix(), weights(w, format), scale, bias == null ? null : bias.toFloatArray());
    }

    /** The factor every output of the layer takes: its FP8 {@code weight_scale}, or 1. */
    public static float weightScale(Checkpoint ckpt, TensorSpec spec, Tensor w) {
        if (!w.dtype().isFloat()) {
            throw new CheckpointException(spec.name() + " is " + w.dtype() + "; weights must be a floating type");
        }
        if (w.dtype() != DType.F8_E4M3 && w.dtype() != DType.F8_E5M2) return 1f;
        String scaleName = spec.scaleName();
        if (!ckpt.has(scaleName)) {
            throw new CheckpointException(spec.name() + " is " + w.dtype() + " but " + scaleName
                    + " is missing; FP8 checkpoints need their per-tensor scales");
        }
        Tensor s = ckpt.get(scaleName);
        if (s.numel() != 1) {
            throw new CheckpointException(scaleName + " has shape " + s.shapeString()
                    + "; only per-tensor FP8 scales (one value) are supported");
        }
        return s.getFloat(0);
    }

    public static WeightMatrix weights(Tensor w, WeightFormat format) {
        if (w.dtype().isBlock() || (format == WeightFormat.GGML && GgmlWeights.supports(w.dtype()))) return new GgmlWeights(w);
        WeightMatrix dense = new DenseWeights(w);
        if (format.quantized == null || !QuantizedWeights.fits(dense.cols())) return dense;
        QuantizedWeights quantized = QuantizedWeights.quantize(dense, format.quantized);
        // The checkpoint's pages of this matrix were read once to quantize it and are not read again: handing them
        // back keeps them out of the process's memory, where they would otherwise stay beside the quantized copy.
        if (w.data().isMapped()) w.data().unload();
        return quantized;
    }

    public float[] forward(float[] x, int rows) {
        float[] y = new float[rows * out];
        MatMul.matmul(x, rows, weight, scale, y);
        if (bias != null) {
            for (int r = 0; r < rows; r++) {
                for (int o = 0; o < out; o++) y[r * out + o] += bias[o];
            }
        }
        return y;
    }

    /** The layer with each row's adapter applied unmerged ({@link LoraAdapter#apply}); adapters null: none. */
    public float[] forward(float[] x, int rows, LoraAdapter[] adapters) {
        float[] y = forward(x, rows);
        LoraAdapter.apply(this, x, rows, adapters, y);
        return y;
    }
}
