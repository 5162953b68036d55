package dev.nemoh.cli;

import dev.nemoh.cuda.CudaException;
import dev.nemoh.cuda.CudaTrainableModel;
import dev.nemoh.cuda.TrainingPrecision;
import dev.nemoh.config.LoraConfig;
import dev.nemoh.train.TrainableModel;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.Locale;

/**
 * Where the training commands ({@code finetune}, {@code train-bench}) compute: the CPU model itself, or its GPU twin
 * ({@link CudaTrainableModel}) over the same parameters, in float32 or bf16, with blocks recomputed from a length on.
 */
final class TrainingDevice {
    @Option(names = "--device", defaultValue = "cpu", paramLabel = "cpu|cuda|auto",
            description = "Where training runs: cpu, cuda (NVIDIA GPU 0), or auto (cuda when a GPU is found). Default: ${DEFAULT-VALUE}.")
    String device;

    @Option(names = "--precision", paramLabel = "fp32|bf16",
            description = "GPU arithmetic: bf16 (bf16 weights and activations in the matrix products, float32 master"
                    + " weights, optimizer and accumulation) or fp32 (float32 throughout, the CPU's arithmetic). The"
                    + " CPU trains in fp32. Default: bf16 on cuda.")
    String precision;

    @Option(names = "--recompute-from", defaultValue = "8192", paramLabel = "TOKENS",
            description = "On the GPU, sequences of at least this many tokens recompute each block's forward just before"
                    + " its backward instead of keeping its activations. Default: ${DEFAULT-VALUE}.")
    int recomputeFrom;

    @picocli.CommandLine.Mixin
    GpuMemoryOption gpuMemory;

    /** Whether training runs on the GPU. */
    boolean cuda() {
        return ModelOption.onCuda(device);
    }

    /** Checks the options before any work: one line for what does not fit together. */
    void check() {
        boolean gpu = cuda();
        if (precision != null && !precision.equalsIgnoreCase("fp32") && !precision.equalsIgnoreCase("bf16")) {
            throw new IllegalArgumentException("--precision must be fp32 or bf16, not \"" + precision + "\"");
        }
        if (!gpu && precision != null && precision.equalsIgnoreCase("bf16")) {
            throw new IllegalArgumentException("--precision bf16 is for --device cuda; the CPU trains in fp32");
        }
        if (recomputeFrom < 1) throw new IllegalArgumentException("--recompute-from must be >= 1, got " + recomputeFrom);
        gpuMemory.check(gpu ? device : "cpu");
    }

    /** The model that trains: {@code host} itself on the CPU, or its GPU twin over the same parameters. */
    TrainableModel model(Path dir, TrainableModel host, LoraConfig lora) {
        if (!cuda()) return host;
        TrainingPrecision p = precision == null ? TrainingPrecision.BF16
                : TrainingPrecision.valueOf(precision.toUpperCase(Locale.ROOT));
        gpuMemory.apply();
        try {
            return new CudaTrainableModel(dir, host, lora, p, recomputeFrom);
        } catch (CudaException e) {
            throw e.advising(CudaTrainableModel.outOfMemoryAdvice(lora != null, recomputeFrom));
        }
    }
}
