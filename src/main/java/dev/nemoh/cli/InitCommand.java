package dev.nemoh.cli;

import dev.nemoh.config.NemotronHConfig;
import dev.nemoh.config.Presets;
import dev.nemoh.export.RandomWeights;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

@Command(name = "init", mixinStandardHelpOptions = true,
        description = "Writes a Hugging Face model directory with random bf16 weights in a preset's shape (for benchmarks).")
final class InitCommand implements Runnable {
    @CommandLine.ArgGroup(multiplicity = "1")
    Shape shape;

    static final class Shape {
        @Option(names = "--preset", required = true, paramLabel = "NAME", description = "One of: ${COMPLETION-CANDIDATES}",
                completionCandidates = InfoCommand.PresetNames.class)
        String preset;

        @Option(names = "--config", required = true, paramLabel = "FILE", description = "Take the shape from a config.json.")
        Path config;

        /** The preset's or the file's config, cut to its first {@code layers} layers when that is not null. */
        NemotronHConfig config(Integer layers) {
            NemotronHConfig c = preset != null ? Presets.get(preset) : NemotronHConfig.load(config);
            if (layers == null) return c;
            if (layers < 1 || layers > c.numLayers()) {
                throw new IllegalArgumentException("--layers must be between 1 and " + c.numLayers() + " for this shape");
            }
            return c.toBuilder().pattern(c.pattern().substring(0, layers)).build();
        }
    }

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Directory to create.")
    Path out;

    @Option(names = "--seed", defaultValue = "0", description = "Random seed (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--layers", paramLabel = "N", description = "Keep only the first N layers of the preset's pattern (smaller, same widths).")
    Integer layers;

    @Option(names = "--force", description = "Overwrite an existing model in DIR.")
    boolean force;

    @Override
    public void run() {
        NemotronHConfig c = shape.config(layers);
        if (Files.exists(out.resolve("model.safetensors")) && !force) {
            throw new IllegalArgumentException(out + " already holds a model; pass --force to overwrite it");
        }
        long t0 = System.nanoTime();
        RandomWeights.write(c, out, seed);
        System.out.printf(Locale.ROOT, "wrote %s: %,d parameters, %.2f GiB bf16, in %.1f s%n", out, c.paramCount(),
                c.paramCount() * 2 / (double) (1L << 30), (System.nanoTime() - t0) / 1e9);
    }
}
