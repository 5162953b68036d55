package dev.nemoh.cuda;

/**
 * A linear layer of the GPU training path, the twin of {@code train.Projection}: a dense layer (frozen, or trained
 * from a float32 master weight) or a frozen layer under a LoRA/DoRA adapter. Layers keep no activations: the
 * backward is handed the forward's input again.
 */
sealed interface CudaProjection permits CudaDenseProjection, CudaLoraProjection {
    int in();

    int out();

    /** {@code y[rows, out] = x[rows, in] · Wᵀ + b} (plus the adapter's part). */
    void forward(CudaTraining t, long x, int rows, long y);

    /** {@code dx (+)= dy · W} (plus the adapter's part), adding every trained parameter's gradient on the way. */
    void backward(CudaTraining t, long x, long dy, int rows, long dx, boolean accumulate);

    /** After an optimizer step: refresh what is derived from the trained values (the bf16 copy of a master weight). */
    default void refresh(CudaTraining t) {}
}
