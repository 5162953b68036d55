package dev.nemoh.train;

/**
 * A block's mixer in training: a forward that keeps what the backward needs, and the backward. One sequence at a
 * time; each backward follows its forward.
 */
sealed interface TrainableMixer
        permits TrainableMamba2Mixer, TrainableAttentionMixer, TrainableMlpMixer, TrainableMoeMixer {
    /** x [len, hidden] (the block's normalised input) → [len, hidden] */
    float[] forward(float[] x, int len);

    /** dL/d(output) → dL/dx, adding parameter gradients on the way. */
    float[] backward(float[] dy, int len);
}
