package dev.nemoh.cli;

import dev.nemoh.config.KvCacheDtype;
import dev.nemoh.cuda.Cuda;
import dev.nemoh.cuda.CudaModel;
import dev.nemoh.model.LanguageModel;
import dev.nemoh.model.NemotronHModel;
import dev.nemoh.model.TimeStepClamp;
import dev.nemoh.model.WeightFormat;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;

/** The {@code --model} option shared by the commands, defaulting to the small model that ships with nemoh. */
final class ModelOption {
    /** Set by the launcher to the bundled model; overridable with NEMOH_DEFAULT_MODEL. */
    static final String DEFAULT_PROPERTY = "nemoh.defaultModel";

    @Option(names = {"-m", "--model"}, paramLabel = "DIR",
            description = "Hugging Face model directory (config.json + *.safetensors). Default: the bundled tiny model.")
    Path model;

    @Option(names = "--weights", defaultValue = "as-stored", paramLabel = "FORMAT",
            description = "Weights in memory: as-stored (mapped, not copied), q8_0 or q4_0 (quantized on load). Default: ${DEFAULT-VALUE}.")
    String weights;

    @Option(names = "--kv-cache-dtype", defaultValue = "auto", paramLabel = "auto|float32|bfloat16",
            description = "How the CPU KV cache stores keys and values: float32 (the reference's math), bfloat16 (half the"
                    + " memory and bytes read per step at long context) or auto (bfloat16 with --weights q8_0/q4_0, else"
                    + " float32). The CUDA backend always keeps bf16. Default: ${DEFAULT-VALUE}.")
    String kvCacheDtype;

    @Option(names = "--device", defaultValue = "cpu", paramLabel = "cpu|cuda|auto",
            description = "Where the model runs: cpu, cuda (NVIDIA GPU 0, bf16 weights on the GPU) or auto (cuda when a"
                    + " GPU and driver are found, else cpu). Default: ${DEFAULT-VALUE}.")
    String device;

    /** Whether --device asks for the GPU backend (auto: when a CUDA driver and GPU are present). */
    boolean onCuda() {
        return switch (device) {
            case "cpu" -> false;
            case "cuda" -> true;
            case "auto" -> Cuda.available();
            default -> throw new IllegalArgumentException("--device must be cpu, cuda or auto, not \"" + device + "\"");
        };
    }

    /** The model on the device --device names. */
    LanguageModel openOnDevice() {
        if (!onCuda()) return open();
        if (!weights.equals("as-stored")) {
            throw new IllegalArgumentException("--weights " + weights + " is CPU-only; --device cuda runs the checkpoint's weights as bf16");
        }
        // auto means bf16 here: the GPU keeps its cache in bf16
        if (KvCacheDtype.parse(kvCacheDtype, true) == KvCacheDtype.FLOAT32) {
            throw new IllegalArgumentException("--kv-cache-dtype float32 is CPU-only; --device cuda keeps its KV cache in bf16");
        }
        return CudaModel.load(resolve(), TimeStepClamp.TRANSFORMERS, ModelOption::progressBar);
    }

    /** The CPU model; commands without a GPU path (forward, info) refuse an explicit --device cuda. */
    NemotronHModel open() {
        if (device.equals("cuda")) {
            throw new IllegalArgumentException("this command runs on the CPU only; --device cuda works with generate, chat, serve and bench");
        }
        WeightFormat format = WeightFormat.parse(weights);
        KvCacheDtype kv = KvCacheDtype.parse(kvCacheDtype, format != WeightFormat.AS_STORED);
        return NemotronHModel.load(resolve(), TimeStepClamp.TRANSFORMERS, format, ModelOption::progressBar).kvCacheDtype(kv);
    }

    /** A one-line progress bar on stderr, redrawn in place; only on a terminal, where it cannot clutter logs. */
    private static void progressBar(int done, int total) {
        if (System.console() == null) return;
        int width = 30;
        int filled = done * width / total;
        System.err.print("\rloading [" + "#".repeat(filled) + " ".repeat(width - filled) + "] " + done + "/" + total + " layers");
        if (done == total) System.err.print("\r" + " ".repeat(width + 30) + "\r");
        System.err.flush();
    }

    Path resolve() {
        return resolve(model);
    }

    /** {@code model}, or the bundled model when it is null. */
    static Path resolve(Path model) {
        if (model != null) return model;
        String env = System.getenv("NEMOH_DEFAULT_MODEL");
        String prop = env != null ? env : System.getProperty(DEFAULT_PROPERTY);
        if (prop == null || !Files.isDirectory(Path.of(prop))) {
            throw new IllegalArgumentException("no --model given and no bundled model found; pass --model DIR");
        }
        return Path.of(prop);
    }
}
