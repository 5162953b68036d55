package dev.nemoh.cuda;

/**
 * A frozen linear layer with a LoRA adapter on the GPU, PEFT's formula as {@code train.LoraProjection} computes it:
 * {@code y = W x + b + s · B A x}; with DoRA {@code y = m / ‖W + s BA‖ · (W x + s · B A x) + b}, the row norms held
 * constant by the gradient. The adapter's matrices are float32 (small), the frozen W in the precision's operand type.
 * The backward recomputes {@code A x} (and W x for DoRA) instead of keeping them.
 */
final class CudaLoraProjection implements CudaProjection {
    private final int out, in, r;
    private final float scaling;
    private final long weight;
    /** the weight for DoRA's row norms: bf16 or float32, as {@link #weight} */
    private final boolean weightBf16;
    private final CudaParameters.Tensor bias, loraA, loraB, magnitude;
    /** DoRA's row norms of the last forward (the adapter changes only between optimizer steps) */
    private final long norms;
    private final String scratch;

    CudaLoraProjection(CudaTraining t, String name, int out, int in, long weight, CudaParameters.Tensor bias,
                       CudaParameters.Tensor loraA, CudaParameters.Tensor loraB, CudaParameters.Tensor magnitude,
                       double scaling) {
        this.out = out;
        this.in = in;
        this.r = loraA.numel() / in;
        this.scaling = (float) scaling;
        this.weight = weight;
        this.weightBf16 = t.precision.bf16();
        this.bias = bias;
        this.loraA = loraA;
        this.loraB = loraB;
        this.magnitude = magnitude;
        this.norms = magnitude == null ? 0 : t.cuda.alloc(GpuMemory.Part.TRAINING, 4L * out);
        this.scratch = "lora." + name;
    }

    @Override
    public int in() {
        return in;
    }

    @Override
    public int out() {
        return out;
    }

    /** ax = x Aᵀ [rows, r]. */
    private long ax(CudaTraining t, long x, int rows) {
        long ax = t.floats(scratch + ".ax", (long) rows * r);
        t.linearF32(loraA.value(), x, ax, rows, r, in, false);
        return ax;
    }

    /** bx = ax Bᵀ [rows, out], for DoRA. */
    private long bx(CudaTraining t, long ax, int rows) {
        long bx = t.floats(scratch + ".bx", (long) rows * out);
        t.linearF32(loraB.value(), ax, bx, rows, out, r, false);
        return bx;
    }

    @Override
    public void forward(CudaTraining t, long x, int rows, long y) {
        t.linear(weight, x, y, rows, out, in, false);
        long ax = ax(t, x, rows);
        long n = (long) rows * out;
        if (magnitude == null) {
            // y += s · ax Bᵀ, the product accumulated straight into y
            t.linearF32(scaling, loraB.value(), ax, y, rows, out, r, true);
        } else {
            rowNorms(t);
            t.k.doraForward(CudaTraining.grid(n), 1, CudaTraining.THREADS, y, bx(t, ax, rows), magnitude.value(), norms,
                    scaling, out, n);
        }
        if (bias != null) t.k.biasAct(CudaTraining.grid(n), CudaTraining.THREADS, y, bias.value(), rows, out, 0);
    }

    /** ‖W + s · B A‖ per output row, with B A formed in scratch. */
    private void rowNorms(CudaTraining t) {
        long ba = t.floats(scratch + ".ba", (long) out * in);
        // BA[out, in] = B[out, r] · A[r, in]: row-major, so the product of Aᵀ-as-weight with B as rows
        t.linearInputGradF32(loraA.value(), loraB.value(), ba, out, r, in, false);
        t.k.doraRowNorms(out, 1, CudaTraining.THREADS, weightBf16 ? weight : 0, weightBf16 ? 0 : weight, ba, scaling, in, norms);
    }

    @Override
    public void backward(CudaTraining t, long x, long dy, int rows, long dx, boolean accumulate) {
        long ax = ax(t, x, rows);
        long n = (long) rows * out;
        // the adapter's output gradient dBx: s · dy for LoRA (s folded into the products below), DoRA's otherwise
        long dBx = dy;
        float s = scaling;
        long dyBase = dy;
        if (magnitude != null) {
            dBx = t.floats(scratch + ".dBx", n);
            s = 1f;
            long base = t.floats(scratch + ".base", n);
            long dBase = t.floats(scratch + ".dBase", n);
            long magRows = t.floats(scratch + ".magRows", n);
            t.linear(weight, x, base, rows, out, in, false);
            t.k.doraBackward(CudaTraining.grid(n), 1, CudaTraining.THREADS, dy, base, bx(t, ax, rows), magnitude.value(),
                    norms, scaling, out, n, dBx, dBase, magRows);
            t.addColumnSums(magRows, rows, out, magnitude.grad());
            // W sees dy through the base term and (m / norm − 1) · dy through DoRA's rescaling of it
            t.axpy(1f, dy, dBase, n, true);
            dyBase = dBase;
        }
        // dB += dBxᵀ ax; dAx = dBx B; dA += dAxᵀ x
        t.linearWeightGradF32(s, dBx, ax, loraB.grad(), rows, out, r);
        long dAx = t.floats(scratch + ".dAx", (long) rows * r);
        t.linearInputGradF32(s, loraB.value(), dBx, dAx, rows, out, r, false);
        t.linearWeightGradF32(dAx, x, loraA.grad(), rows, r, in);
        if (dx == 0) return;
        t.linearInputGrad(weight, dyBase, dx, rows, out, in, accumulate);
        t.linearInputGradF32(loraA.value(), dAx, dx, rows, r, in, true);
    }
}
