package dev.nemoh.train;

/** A step's loss or gradient norm is NaN or infinite: the run stops there, naming the step. */
public final class TrainingDiverged extends RuntimeException {
    public TrainingDiverged(String message) {
        super(message);
    }
}
