package dev.nemoh.cli;

import dev.nemoh.config.LayerType;
import dev.nemoh.config.NemotronHConfig;
import dev.nemoh.config.WeightSchema;
import dev.nemoh.config.Presets;
import dev.nemoh.config.KvCacheDtype;
import dev.nemoh.config.WeightPrecision;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.util.Locale;

@Command(name = "info", mixinStandardHelpOptions = true,
        description = "Shows a model's layer map, parameter counts by kind and memory needs.")
final class InfoCommand implements Runnable {
    @Mixin
    ModelDir model;

    @Option(names = "--preset", paramLabel = "NAME", description = "Describe a published shape instead of a model directory: ${COMPLETION-CANDIDATES}",
            completionCandidates = PresetNames.class)
    String preset;

    static final class PresetNames implements Iterable<String> {
        @Override
        public java.util.Iterator<String> iterator() {
            return Presets.all().keySet().iterator();
        }
    }

    @Override
    public void run() {
        if (preset != null && model.model != null) {
            throw new IllegalArgumentException("--model and --preset both name what to describe: give one");
        }
        NemotronHConfig c = preset != null ? Presets.get(preset) : NemotronHConfig.load(model.directory("info"));
        print(c, preset != null ? "preset " + preset : model.resolve().toString(), System.out);
    }

    static void print(NemotronHConfig c, String name, PrintStream out) {
        out.println("model      " + name);
        out.printf(Locale.ROOT, "layers     %d  %s%n", c.numLayers(), c.pattern());
        out.println("           M = Mamba-2, * = attention, - = MLP, E = MoE");
        out.printf(Locale.ROOT, "hidden     %d, vocab %d, context %d%n", c.hiddenSize, c.vocabSize, c.maxPositionEmbeddings);
        if (c.count(LayerType.MAMBA) > 0) {
            out.printf(Locale.ROOT, "mamba      %d heads × %d, state %d, %d groups, conv %d, chunk %d%n",
                    c.mambaNumHeads, c.mambaHeadDim, c.ssmStateSize, c.nGroups, c.convKernel, c.chunkSize);
        }
        if (c.count(LayerType.ATTENTION) > 0) {
            out.printf(Locale.ROOT, "attention  %d q heads, %d kv heads, head dim %d (no RoPE)%n",
                    c.numAttentionHeads, c.numKeyValueHeads, c.headDim);
        }
        if (c.count(LayerType.MOE) > 0) {
            out.printf(Locale.ROOT, "moe        %d experts (top %d) × %d, shared expert %d, scaling %.2f%n",
                    c.nRoutedExperts, c.numExpertsPerTok, c.moeIntermediateSize, c.moeSharedExpertIntermediateSize,
                    c.routedScalingFactor);
        }
        out.println();
        out.println("parameters by kind");
        WeightSchema schema = WeightSchema.of(c);
        row(out, "embeddings", 1, schema.embeddings.numel());
        for (var e : c.paramCountByType().entrySet()) row(out, e.getKey().name().toLowerCase(Locale.ROOT), c.count(e.getKey()), e.getValue());
        row(out, schema.lmHead.prefix(), 1, schema.lmHead.weight().numel());
        out.printf(Locale.ROOT, "  %-12s %22s%n", "total", group(c.paramCount()));
        if (c.count(LayerType.MOE) > 0) out.printf(Locale.ROOT, "  %-12s %22s%n", "active/token", group(c.activeParamCount()));
        out.println();
        out.println("weight memory");
        for (WeightPrecision p : WeightPrecision.values()) {
            out.printf(Locale.ROOT, "  %-6s %10s%n", p, gib(c.weightBytes(p)));
        }
        out.println("cache per sequence (float32 Mamba state + KV cache in float32 | bfloat16)");
        for (long ctx : new long[] {1024, 8192, 131072}) {
            if (ctx <= Math.max(c.maxPositionEmbeddings, 8192)) {
                out.printf(Locale.ROOT, "  %7d tokens %10s %10s%n", ctx, gib(c.cacheBytes(ctx, KvCacheDtype.FLOAT32.bytes)),
                        gib(c.cacheBytes(ctx, KvCacheDtype.BFLOAT16.bytes)));
            }
        }
    }

    private static void row(PrintStream out, String kind, int layers, long params) {
        out.printf(Locale.ROOT, "  %-12s %4s %17s%n", kind, layers > 1 ? "×" + layers : "", group(params));
    }

    private static String group(long v) {
        return String.format(Locale.ROOT, "%,d", v);
    }

    private static String gib(long bytes) {
        return bytes >= 1L << 30 ? String.format(Locale.ROOT, "%.2f GiB", bytes / (double) (1L << 30))
                : String.format(Locale.ROOT, "%.2f MiB", bytes / (double) (1L << 20));
    }
}
