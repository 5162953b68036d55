package dev.nemoh.train;

import java.util.Arrays;

/**
 * One trainable tensor: float32 master values (also when the checkpoint stores bf16), the gradient accumulated into
 * it, and its name — the checkpoint's for full fine-tuning, PEFT's (without the {@code base_model.model.} prefix)
 * for adapter weights. Frozen matrices are not parameters: under adapters they stay as the checkpoint stores them
 * (see {@link DifferentiableModel}); only small frozen 1-D tensors are float32 parameters whose gradient is unused.
 */
public final class Parameter {
    public final String name;
    public final int[] shape;
    public final float[] value;
    public final float[] grad;

    public Parameter(String name, int[] shape, float[] value) {
        long n = 1;
        for (int d : shape) n *= d;
        if (n != value.length) {
            throw new IllegalArgumentException(name + ": shape " + Arrays.toString(shape) + " holds " + n
                    + " values, not " + value.length);
        }
        this.name = name;
        this.shape = shape.clone();
        this.value = value;
        this.grad = new float[value.length];
    }

    /** The shape as safetensors takes it. */
    public long[] longShape() {
        return Arrays.stream(shape).asLongStream().toArray();
    }

    public int numel() {
        return value.length;
    }

    public void zeroGrad() {
        Arrays.fill(grad, 0f);
    }
}
