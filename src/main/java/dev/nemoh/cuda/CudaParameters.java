package dev.nemoh.cuda;

import dev.nemoh.train.Parameter;

import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * The trainable parameters on the GPU: float32 values and gradients of every {@link Parameter} of a model, packed in
 * one buffer each in the model's parameter order (each tensor aligned), so that the optimizer and the gradient norm run in one pass over
 * all of them. The host {@link Parameter}s stay the record that checkpoints and exports read: {@link #pull} copies
 * the device values into them, {@link #push} the other way.
 */
final class CudaParameters {
    /** A tensor the GPU layers read: its float32 values, and its gradient (0 when it does not train). */
    record Tensor(long value, long grad, int numel) {
        static Tensor frozen(long value, int numel) {
            return new Tensor(value, 0, numel);
        }

        boolean trains() {
            return grad != 0;
        }
    }

    private static final int ALIGN = 64;

    private final Cuda cuda;
    final List<Parameter> parameters;
    final long values, grads;
    final long count;
    private final Map<Parameter, Long> offsets = new IdentityHashMap<>();

    CudaParameters(Cuda cuda, List<Parameter> parameters) {
        this.cuda = cuda;
        this.parameters = List.copyOf(parameters);
        long n = 0;
        for (Parameter p : this.parameters) {
            offsets.put(p, n);
            // each tensor starts on a 256-byte boundary, as the vectorised kernels that read it need (the padding
            // stays zero through every update)
            n += (p.numel() + ALIGN - 1) / ALIGN * ALIGN;
        }
        count = n;
        values = cuda.allocZeroed(GpuMemory.Part.TRAINING, 4 * Math.max(1, n));
        grads = cuda.allocZeroed(GpuMemory.Part.TRAINING, 4 * Math.max(1, n));
        push();
    }

    /** The device tensor of {@code p}, one of this model's parameters. */
    Tensor of(Parameter p) {
        Long at = offsets.get(p);
        if (at == null) throw new IllegalArgumentException(p.name + " is not a trainable parameter of this model");
        return new Tensor(values + 4 * at, grads + 4 * at, p.numel());
    }

    /** Host values to the device (after a checkpoint was restored into them). */
    void push() {
        for (Parameter p : parameters) cuda.upload(values + 4 * offsets.get(p), p.value);
    }

    /** Device values to the host parameters (before a checkpoint or an export reads them). */
    void pull() {
        for (Parameter p : parameters) {
            float[] v = cuda.downloadFloats(values + 4 * offsets.get(p), p.numel());
            System.arraycopy(v, 0, p.value, 0, v.length);
        }
    }

    /** The gradients to the host parameters' {@code grad} (for tests). */
    void pullGradients() {
        for (Parameter p : parameters) {
            float[] g = cuda.downloadFloats(grads + 4 * offsets.get(p), p.numel());
            System.arraycopy(g, 0, p.grad, 0, g.length);
        }
    }

    void zeroGradients() {
        cuda.zero(grads, 4 * count);
    }

    void free() {
        cuda.free(values);
        cuda.free(grads);
    }
}
