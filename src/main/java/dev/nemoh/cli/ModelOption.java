package dev.nemoh.cli;

import dev.nemoh.config.KvCacheDtype;
import dev.nemoh.cuda.Cuda;
import dev.nemoh.io.NemotronHGguf;
import dev.nemoh.cuda.CudaModel;
import dev.nemoh.model.LanguageModel;
import dev.nemoh.model.NemotronHModel;
import dev.nemoh.model.TimeStepClamp;
import dev.nemoh.model.WeightFormat;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;

/**
 * The model and how it runs, for the commands that run it on the CPU or the GPU ({@code generate}, {@code chat},
 * {@code serve}, {@code bench-serve}, {@code bench}): {@code --model}, {@code --device}, {@code --weights} and
 * {@code --kv-cache-dtype}. Commands that only read the model directory take {@link ModelDir} instead.
 */
final class ModelOption {
    @Mixin
    ModelDir dir;

    @Option(names = "--weights", defaultValue = "as-stored", paramLabel = "FORMAT",
            description = "Weights in memory: as-stored (mapped, not copied), q8_0 or q4_0 (quantized on load; CPU only). Default: ${DEFAULT-VALUE}.")
    String weights;

    @Option(names = "--kv-cache-dtype", defaultValue = "auto", paramLabel = "auto|float32|bfloat16",
            description = "How the CPU KV cache stores keys and values: float32 (the reference's math), bfloat16 (half the"
                    + " memory and bytes read per step at long context) or auto (bfloat16 with --weights q8_0/q4_0, else"
                    + " float32). The CUDA backend always keeps bf16. Default: ${DEFAULT-VALUE}.")
    String kvCacheDtype;

    @Mixin
    GpuMemoryOption gpuMemory;

    @Option(names = "--prefill-chunk", paramLabel = "TOKENS",
            description = "With --device cuda: prompts run through the model in chunks of this many tokens, so no"
                    + " activation buffer is sized to a long prompt (the states and KV cache carry across chunks)."
                    + " Default: 2048.")
    Integer prefillChunk;

    @Option(names = "--device", defaultValue = "cpu", paramLabel = "cpu|cuda|auto",
            description = "Where the model runs: cpu, cuda (NVIDIA GPU 0, bf16 weights on the GPU) or auto (cuda when a"
                    + " GPU and driver are found, else cpu). Default: ${DEFAULT-VALUE}.")
    String device;

    /** Whether --device asks for the GPU backend (auto: when a CUDA driver and GPU are present). */
    boolean onCuda() {
        return onCuda(device);
    }

    /** Whether a --device value asks for the GPU (auto: when a CUDA driver and GPU are present). */
    static boolean onCuda(String device) {
        return switch (device) {
            case "cpu" -> false;
            case "cuda" -> true;
            case "auto" -> Cuda.available();
            default -> throw new IllegalArgumentException("--device must be cpu, cuda or auto, not \"" + device + "\"");
        };
    }

    /**
     * Refuses the options the GPU backend cannot honour: quantized weights and a float32 KV cache are CPU-only.
     * Called before any GPU is looked for, so the answer does not depend on the machine.
     */
    void checkCuda() {
        if (NemotronHGguf.isGguf(resolve())) {
            throw new IllegalArgumentException("GGUF files run on the CPU for now; --device " + device
                    + " needs a Hugging Face model directory: drop --device or use --device cpu");
        }
        gpuMemory.check(device);
        if (prefillChunk != null && prefillChunk < 1) {
            throw new IllegalArgumentException("--prefill-chunk must be at least 1 token, got " + prefillChunk);
        }
        if (!weights.equals("as-stored")) {
            WeightFormat.parse(weights); // an unknown format is named as such first
            throw new IllegalArgumentException("--weights " + weights + " is CPU-only for now; --device cuda runs the"
                    + " checkpoint's weights as bf16: drop --weights or use --device cpu");
        }
        // auto means bf16 here: the GPU keeps its cache in bf16
        if (KvCacheDtype.parse(kvCacheDtype, true) == KvCacheDtype.FLOAT32) {
            throw new IllegalArgumentException("--kv-cache-dtype float32 is CPU-only; --device cuda keeps its KV cache"
                    + " in bf16: drop --kv-cache-dtype or use --device cpu");
        }
    }

    /** The model on the device --device names. */
    LanguageModel openOnDevice() {
        if (!device.equals("cpu")) checkCuda(); // auto too: the same command must not fail only where a GPU is found
        if (!onCuda()) {
            refuseCudaOptions();
            return open();
        }
        return openCuda();
    }

    /** The GPU model with --gpu-memory and --prefill-chunk applied. */
    CudaModel openCuda() {
        gpuMemory.apply();
        CudaModel m = CudaModel.load(resolve(), TimeStepClamp.TRANSFORMERS, ModelOption::progressBar);
        if (prefillChunk != null) m.prefillChunk(prefillChunk);
        return m;
    }

    /** Refuses the GPU's options on the CPU, even where --device cpu was not given explicitly. */
    void refuseCudaOptions() {
        gpuMemory.check("cpu");
        if (prefillChunk != null) {
            throw new IllegalArgumentException("--prefill-chunk sets the GPU's prefill: use it with --device cuda or drop it");
        }
    }

    /** The CPU model, with --weights and --kv-cache-dtype. */
    NemotronHModel open() {
        refuseCudaOptions();
        WeightFormat format = WeightFormat.parse(weights);
        KvCacheDtype kv = KvCacheDtype.parse(kvCacheDtype, format != WeightFormat.AS_STORED);
        return NemotronHModel.load(resolve(), TimeStepClamp.TRANSFORMERS, format, ModelOption::progressBar).kvCacheDtype(kv);
    }

    /** A one-line progress bar on stderr, redrawn in place; only on a terminal, where it cannot clutter logs. */
    static void progressBar(int done, int total) {
        if (System.console() == null) return;
        int width = 30;
        int filled = done * width / total;
        System.err.print("\rloading [" + "#".repeat(filled) + " ".repeat(width - filled) + "] " + done + "/" + total + " layers");
        if (done == total) System.err.print("\r" + " ".repeat(width + 30) + "\r");
        System.err.flush();
    }

    Path resolve() {
        return dir.resolve();
    }
}
