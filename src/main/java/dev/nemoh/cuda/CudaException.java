package dev.nemoh.cuda;

/** A failure of the GPU backend, worded to name the problem and, where there is one, the fix. */
public final class CudaException extends RuntimeException {
    /** For out-of-memory failures: what did not fit, without the advice (null otherwise). */
    private final String shortage;

    public CudaException(String message) {
        super(message);
        this.shortage = null;
    }

    private CudaException(String shortage, String advice) {
        super(shortage + "; " + advice);
        this.shortage = shortage;
    }

    /** Out of GPU memory: {@code shortage} names the size that did not fit, {@code advice} what to lower. */
    static CudaException outOfMemory(String shortage, String advice) {
        return new CudaException(shortage, advice);
    }

    public boolean outOfMemory() {
        return shortage != null;
    }

    /** The same failure with the caller's advice on what to lower, when it is out of memory; else this exception. */
    public CudaException advising(String advice) {
        return shortage == null ? this : new CudaException(shortage, advice);
    }
}
