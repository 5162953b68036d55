package dev.nemoh.cuda;

import java.util.List;

/**
 * A block's mixer in GPU training, the twin of {@code train.TrainableMixer}: a forward that keeps what its backward
 * needs in scratch buffers named under a key (one key per layer, or one shared key when the block's forward is
 * recomputed just before its backward), and the backward. One sequence at a time.
 */
sealed interface CudaTrainableMixer
        permits CudaTrainableMamba2Mixer, CudaTrainableAttentionMixer, CudaTrainableMlpMixer, CudaTrainableMoeMixer {
    /** out [len, hidden] = mixer(x [len, hidden]), the block's normalised input. */
    void forward(CudaTraining t, String key, long x, int len, long out);

    /** dx [len, hidden] (written) from dOut, x as the forward saw it, and the forward's activations under key. */
    void backward(CudaTraining t, String key, long x, long dOut, int len, long dx);

    /** The mixer's linear layers. */
    List<CudaProjection> projections();
}
