package dev.nemoh.train;

/**
 * A linear layer of the model being trained ({@code y = x Wᵀ + b}, possibly with an adapter). Like every training
 * layer it remembers what its last {@link #forward} needs for {@link #backward}, so calls alternate per sequence.
 */
interface Projection {
    /** x [rows, in] → [rows, out] */
    float[] forward(float[] x, int rows);

    /** dL/dy [rows, out] → dL/dx [rows, in]; adds the gradients of this layer's trainable weights. */
    float[] backward(float[] dy, int rows);
}
