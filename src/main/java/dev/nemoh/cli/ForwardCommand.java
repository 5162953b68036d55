package dev.nemoh.cli;

import dev.nemoh.io.SafetensorsWriter;
import dev.nemoh.model.LoraAdapter;
import dev.nemoh.model.NemotronHModel;
import dev.nemoh.model.TimeStepClamp;
import dev.nemoh.model.WeightFormat;
import dev.nemoh.tensor.Tensor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.Locale;

@Command(name = "forward", mixinStandardHelpOptions = true,
        description = "One uncached forward pass; writes float32 logits [L, V] (and input_ids) to a safetensors file.")
final class ForwardCommand implements Runnable {
    @Mixin
    ModelDir model;

    @Option(names = "--weights", defaultValue = "as-stored", paramLabel = "FORMAT",
            description = "Weights in memory: as-stored (mapped, not copied), q8_0 or q4_0 (quantized on load). Default: ${DEFAULT-VALUE}.")
    String weights;

    @Mixin
    AdapterOption adapter;

    @Option(names = "--ids", required = true, paramLabel = "IDS", description = "Comma-separated input token ids.")
    String ids;

    @Option(names = "--out", required = true, paramLabel = "FILE", description = "Output .safetensors file.")
    Path out;

    @Override
    public void run() {
        int[] tokens = TokenIds.parse(ids);
        WeightFormat format = WeightFormat.parse(weights);
        // uncached: no KV cache whose dtype could matter
        try (NemotronHModel m = NemotronHModel.load(model.resolve(), TimeStepClamp.TRANSFORMERS, format, ModelOption::progressBar)) {
            LoraAdapter loaded = adapter.load(m);
            long t0 = System.nanoTime();
            float[] logits = m.forwardThrough(tokens, loaded);
            long t1 = System.nanoTime();
            int vocab = m.config.vocabSize;
            long[] idArray = java.util.Arrays.stream(tokens).asLongStream().toArray();
            SafetensorsWriter writer = new SafetensorsWriter()
                    .add(Tensor.ofLongs("input_ids", idArray, 1, tokens.length))
                    .add(Tensor.ofFloats("logits", logits, tokens.length, vocab))
                    .metadata("model", model.resolve().toString());
            if (loaded != null) writer.metadata("adapter", loaded.identity());
            writer.write(out);
            System.out.printf(Locale.ROOT, "wrote logits [%d, %d] to %s (%.1f ms)%n", tokens.length, vocab, out, (t1 - t0) / 1e6);
        }
    }
}
