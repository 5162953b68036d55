package dev.nemoh.cli;

import dev.nemoh.io.GgufWriter.TensorType;
import dev.nemoh.export.GgufExport;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.Locale;

@Command(name = "export-gguf", mixinStandardHelpOptions = true,
        description = "Writes the model as a GGUF file that llama.cpp loads (architecture nemotron_h), tokenizer included.")
final class ExportGgufCommand implements Runnable {
    @Mixin
    ModelDir model;

    @Option(names = "--out", required = true, paramLabel = "FILE", description = "Output .gguf file.")
    Path out;

    @Option(names = "--type", defaultValue = "bf16", paramLabel = "TYPE",
            description = "Type of the weight matrices: bf16, f32 or q8_0 (norms, biases and SSM parameters stay f32). Default: ${DEFAULT-VALUE}.")
    String type;

    @Option(names = "--tokenizer-pre", paramLabel = "NAME",
            description = "llama.cpp's pre-tokenizer name (tokenizer.ggml.pre); default: recognised from tokenizer.json.")
    String tokenizerPre;

    @Override
    public void run() {
        TensorType t = GgufExport.parseType(type);
        long t0 = System.nanoTime();
        GgufExport.Summary s = GgufExport.export(model.directory("export-gguf"), out, t, tokenizerPre);
        System.out.printf(Locale.ROOT, "wrote %s: %d tensors, matrices %s, %.2f GiB, in %.1f s%n", out, s.tensors(),
                t.name().toLowerCase(Locale.ROOT), s.bytes() / (double) (1L << 30), (System.nanoTime() - t0) / 1e9);
    }
}
