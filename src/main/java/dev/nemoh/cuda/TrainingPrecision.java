package dev.nemoh.cuda;

/**
 * How GPU training computes: {@code FP32} keeps every weight, activation and product in float32 (the CPU path's
 * arithmetic, for checking); {@code BF16} multiplies bf16 weights and activations on the tensor cores with float32
 * accumulation, while master weights, optimizer state, norms and the scan stay float32.
 */
public enum TrainingPrecision {
    FP32, BF16;

    /** Whether the matrix products read bf16 operands. */
    boolean bf16() {
        return this == BF16;
    }
}
