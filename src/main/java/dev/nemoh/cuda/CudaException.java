package dev.nemoh.cuda;

/** A failure of the GPU backend, worded to name the problem and, where there is one, the fix. */
public final class CudaException extends RuntimeException {
    public CudaException(String message) {
        super(message);
    }
}
