package dev.nemoh.cuda;

/**
 * A dense linear layer on the GPU: frozen (its weight uploaded once in the precision's operand type) or trained (a
 * float32 master weight with its gradient, and in bf16 precision a bf16 copy refreshed after every optimizer step).
 */
final class CudaDenseProjection implements CudaProjection {
    private final int out, in;
    /** float32 master and gradient, when trained */
    private final CudaParameters.Tensor master;
    /** the weight as the products read it: bf16 or float32 */
    private final long operand;
    private final boolean ownsOperand;
    private final CudaParameters.Tensor bias;
    /** products in float32 whatever the precision (the MoE router, whose choices bf16 rounding would flip) */
    private final boolean float32;

    private CudaDenseProjection(int out, int in, CudaParameters.Tensor master, long operand, boolean ownsOperand,
                                CudaParameters.Tensor bias, boolean float32) {
        this.out = out;
        this.in = in;
        this.master = master;
        this.operand = operand;
        this.ownsOperand = ownsOperand;
        this.bias = bias;
        this.float32 = float32;
    }

    /**
     * A frozen layer whose weight {@code operand} is already on the device: float32 when {@code float32}, else in the
     * precision's operand type.
     */
    static CudaDenseProjection frozen(int out, int in, long operand, CudaParameters.Tensor bias, boolean float32) {
        return new CudaDenseProjection(out, in, null, operand, false, bias, float32);
    }

    /** A trained layer over its float32 master weight; {@code float32}: its products stay float32. */
    static CudaDenseProjection trained(CudaTraining t, int out, int in, CudaParameters.Tensor master,
                                       CudaParameters.Tensor bias, boolean float32) {
        if (float32 || !t.precision.bf16()) return new CudaDenseProjection(out, in, master, master.value(), false, bias, float32);
        CudaDenseProjection p = new CudaDenseProjection(out, in, master, t.cuda.alloc(GpuMemory.Part.WEIGHTS, 2L * out * in), true, bias, false);
        p.refresh(t);
        return p;
    }

    @Override
    public int in() {
        return in;
    }

    @Override
    public int out() {
        return out;
    }

    @Override
    public void forward(CudaTraining t, long x, int rows, long y) {
        if (float32) t.linearF32(operand, x, y, rows, out, in, false);
        else t.linear(operand, x, y, rows, out, in, false);
        if (bias != null) t.k.biasAct(CudaTraining.grid((long) rows * out), CudaTraining.THREADS, y, bias.value(), rows, out, 0);
    }

    @Override
    public void backward(CudaTraining t, long x, long dy, int rows, long dx, boolean accumulate) {
        if (master != null && master.trains()) {
            if (float32) t.linearWeightGradF32(dy, x, master.grad(), rows, out, in);
            else t.linearWeightGrad(dy, x, master.grad(), rows, out, in);
        }
        if (bias != null && bias.trains()) t.addColumnSums(dy, rows, out, bias.grad());
        if (dx == 0) return;
        if (float32) t.linearInputGradF32(operand, dy, dx, rows, out, in, accumulate);
        else t.linearInputGrad(operand, dy, dx, rows, out, in, accumulate);
    }

    @Override
    public void refresh(CudaTraining t) {
        if (!ownsOperand) return;
        long n = (long) out * in;
        t.k.toBf16(CudaTraining.grid(n), CudaTraining.THREADS, master.value(), operand, n);
    }
}
