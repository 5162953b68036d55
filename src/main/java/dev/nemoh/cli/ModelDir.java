package dev.nemoh.cli;

import dev.nemoh.io.NemotronHGguf;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The {@code --model} option alone, defaulting to the small model that ships with nemoh: for the commands that read
 * the model directory themselves ({@code info}, {@code export-gguf}, {@code train-bench}, {@code forward}) and take
 * none of the inference options of {@link ModelOption}.
 */
final class ModelDir {
    /** Set by the launcher to the bundled model; overridable with NEMOH_DEFAULT_MODEL. */
    static final String DEFAULT_PROPERTY = "nemoh.defaultModel";

    @Option(names = {"-m", "--model"}, paramLabel = "DIR|FILE.gguf",
            description = "Hugging Face model directory (config.json + *.safetensors), or for the commands that run the"
                    + " model on the CPU a nemotron_h GGUF file. Default: the bundled small model (models/nemoh-small).")
    Path model;

    Path resolve() {
        return resolve(model);
    }

    /** The model directory, for a command that reads Hugging Face directories only; a GGUF file is refused. */
    Path directory(String command) {
        Path p = resolve();
        if (NemotronHGguf.isGguf(p)) {
            throw new IllegalArgumentException(command + " reads Hugging Face model directories, not GGUF files (" + p
                    + "); GGUF files run in forward, generate, chat, serve, bench-serve and bench");
        }
        return p;
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
