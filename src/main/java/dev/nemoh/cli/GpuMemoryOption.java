package dev.nemoh.cli;

import dev.nemoh.cuda.Cuda;
import dev.nemoh.cuda.GpuMemory;
import picocli.CommandLine.Option;

/**
 * {@code --gpu-memory}, the GPU memory budget of every command that can run on cuda ({@link ModelOption}'s and
 * {@link TrainingDevice}'s): the process's weights, caches, workspaces, cuBLAS and CUDA context stay within it, and
 * what does not fit is refused in one line before it is allocated ({@link GpuMemory}).
 */
final class GpuMemoryOption {
    @Option(names = "--gpu-memory", paramLabel = "GiB|FRACTION",
            description = "With --device cuda: the most GPU memory the process may use, in GiB (from 1 on) or as a"
                    + " fraction of the GPU (below 1): weights, KV caches and Mamba states, workspaces, cuBLAS and the"
                    + " CUDA context all count; what does not fit is refused up front. Default: no limit.")
    String value;

    /** Refuses a malformed value, or one given for the CPU, before anything loads. */
    void check(String device) {
        if (value == null) return;
        GpuMemory.parse(value, 1L << 40); // the syntax; fractions are resolved against the GPU in apply()
        if (device.equals("cpu")) {
            throw new IllegalArgumentException("--gpu-memory bounds the GPU's memory: use it with --device cuda or drop it");
        }
    }

    /** Sets the budget on GPU 0; call before the model goes up. */
    void apply() {
        if (value == null) return;
        Cuda cuda = Cuda.get();
        cuda.memory.limit(GpuMemory.parse(value, cuda.totalMemory), "--gpu-memory " + value);
    }
}
