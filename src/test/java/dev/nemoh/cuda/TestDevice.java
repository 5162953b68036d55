package dev.nemoh.cuda;

import static org.junit.jupiter.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The CUDA device the cuda backend's tests run on: the GPU when there is one, else the CPU emulator of the CUDA
 * stack ({@link CudaEmulator}), which runs the same code and kernels here and in CI. The system property
 * {@value #MODE} picks: {@code auto} (the default), {@code gpu} (the GPU machine, scripts/cuda-device.sh: a test that
 * would run on the emulator fails instead) or {@code emulator} (the emulator even where a GPU is).
 */
public final class TestDevice {
    static final String MODE = "nemoh.cuda.tests";
    private static boolean toldWhy;

    private TestDevice() {
    }

    /**
     * The device, initialised once per JVM ({@link Cuda#get} is a singleton, so this runs before any other use of
     * it); skips the calling test, saying why, when there is neither a GPU nor a way to build the emulator.
     */
    public static synchronized Cuda cuda() {
        // -Dnemoh.require=cuda (the strict switch) means the GPU itself, as mode gpu does
        String mode = dev.nemoh.Requirements.required().contains("cuda") ? "gpu" : System.getProperty(MODE, "auto");
        if (!mode.equals("auto") && !mode.equals("gpu") && !mode.equals("emulator")) {
            fail(MODE + " must be auto, gpu or emulator, not " + mode);
        }
        if (System.getProperty(NativeLibrary.EMULATOR) == null && !mode.equals("emulator")) {
            if (Cuda.available()) return Cuda.get();
            if (mode.equals("gpu")) {
                try {
                    Cuda.get();
                } catch (CudaException e) {
                    fail("these tests must run on the GPU here (" + MODE + "=gpu), but there is none: " + e.getMessage());
                }
            }
            try {
                System.setProperty(NativeLibrary.EMULATOR, CudaEmulator.library().toString());
            } catch (CudaEmulator.Unavailable e) {
                String why = "no CUDA GPU, and no CUDA emulator: " + e.getMessage();
                // surefire does not show why a class was skipped
                if (!toldWhy) System.err.println("cuda tests skipped: " + why);
                toldWhy = true;
                assumeTrue(false, why);
            }
        }
        Cuda cuda = Cuda.get();
        if (mode.equals("gpu") && (emulated() || cuda.deviceName.contains("emulator"))) fail("these tests must run on the GPU (" + MODE + "=gpu), not on " + cuda.deviceName);
        return cuda;
    }

    /** Whether the tests run on the CPU emulator. */
    public static boolean emulated() {
        return NativeLibrary.emulated();
    }
}
