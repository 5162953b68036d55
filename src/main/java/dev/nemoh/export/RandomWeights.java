package dev.nemoh.export;

import dev.nemoh.config.LayerType;
import dev.nemoh.config.NemotronHConfig;
import dev.nemoh.io.Checkpoint;
import dev.nemoh.io.SafetensorsWriter;
import dev.nemoh.kernels.Parallel;
import dev.nemoh.tensor.DType;
import dev.nemoh.tensor.Numerics;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A Hugging Face model directory of bf16 random weights in any config's shape, for benchmarks and tests where real
 * weights cannot be downloaded. Initialisation follows transformers' NemotronH {@code _init_weights}: linear and
 * embedding weights N(0, initializer_range), norms 1, {@code A_log = log(1..heads)}, {@code D = 1}, {@code dt_bias}
 * the inverse softplus of a log-uniform dt in [time_step_min, time_step_max], conv1d Kaiming-uniform.
 * Deterministic for a seed; the values of a tensor depend only on the seed and its name.
 */
public final class RandomWeights {
    private RandomWeights() {}

    private static final double INIT_STD = 0.02;
    private static final ValueLayout.OfShort BF16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** How a tensor's values are drawn, element by element, from a per-element random stream. */
    private interface Init {
        float value(long index, long random);
    }

    public static void write(NemotronHConfig c, Path dir, long seed) {
        try {
            Files.createDirectories(dir);
            Files.writeString(dir.resolve("config.json"), c.toJsonString());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + dir + "/config.json", e);
        }
        SafetensorsWriter w = new SafetensorsWriter().metadata("format", "pt");
        int h = c.hiddenSize;
        add(w, seed, "backbone.embeddings.weight", normal(INIT_STD), c.vocabSize, h);
        for (int i = 0; i < c.numLayers(); i++) {
            String p = "backbone.layers." + i;
            add(w, seed, p + ".norm.weight", (idx, r) -> 1f, h);
            String m = p + ".mixer";
            LayerType type = c.layers.get(i);
            switch (type) {
                case MAMBA -> {
                    int conv = c.convDim();
                    int heads = c.mambaNumHeads;
                    add(w, seed, m + ".in_proj.weight", normal(INIT_STD), c.inProjSize(), h);
                    float bound = (float) (1 / Math.sqrt(c.convKernel));
                    add(w, seed, m + ".conv1d.weight", uniform(bound), conv, 1, c.convKernel);
                    if (c.useConvBias) add(w, seed, m + ".conv1d.bias", uniform(bound), conv);
                    add(w, seed, m + ".A_log", (idx, r) -> (float) Math.log(idx + 1), heads);
                    add(w, seed, m + ".D", (idx, r) -> 1f, heads);
                    add(w, seed, m + ".dt_bias", (idx, r) -> dtBias(c, r), heads);
                    add(w, seed, m + ".norm.weight", (idx, r) -> 1f, c.mambaIntermediateSize());
                    add(w, seed, m + ".out_proj.weight", normal(INIT_STD / Math.sqrt(c.numLayers())), h, c.mambaIntermediateSize());
                }
                case ATTENTION -> {
                    int q = c.numAttentionHeads * c.headDim;
                    int kv = c.numKeyValueHeads * c.headDim;
                    add(w, seed, m + ".q_proj.weight", normal(INIT_STD), q, h);
                    add(w, seed, m + ".k_proj.weight", normal(INIT_STD), kv, h);
                    add(w, seed, m + ".v_proj.weight", normal(INIT_STD), kv, h);
                    add(w, seed, m + ".o_proj.weight", normal(INIT_STD), h, q);
                }
                case MLP -> addMlp(w, seed, m, h, c.intermediateSize);
                case MOE -> {
                    int width = c.moeLatentSize > 0 ? c.moeLatentSize : h;
                    add(w, seed, m + ".gate.weight", normal(INIT_STD), c.nRoutedExperts, h);
                    add(w, seed, m + ".gate.e_score_correction_bias", (idx, r) -> 0f, c.nRoutedExperts);
                    for (int e = 0; e < c.nRoutedExperts; e++) addMlp(w, seed, m + ".experts." + e, width, c.moeIntermediateSize);
                    addMlp(w, seed, m + ".shared_experts", h, c.moeSharedExpertIntermediateSize);
                    if (c.moeLatentSize > 0) {
                        add(w, seed, m + ".fc1_latent_proj.weight", normal(INIT_STD), width, h);
                        add(w, seed, m + ".fc2_latent_proj.weight", normal(INIT_STD), h, width);
                    }
                }
            }
        }
        add(w, seed, "backbone.norm_f.weight", (idx, r) -> 1f, h);
        add(w, seed, "lm_head.weight", normal(INIT_STD), c.vocabSize, h); // used even when tied, as transformers does
        w.write(dir.resolve(Checkpoint.SINGLE));
    }

    private static void addMlp(SafetensorsWriter w, long seed, String p, int in, int inner) {
        add(w, seed, p + ".up_proj.weight", normal(INIT_STD), inner, in);
        add(w, seed, p + ".down_proj.weight", normal(INIT_STD), in, inner);
    }

    private static float dtBias(NemotronHConfig c, long random) {
        double u = unit(random);
        double lo = Math.log(c.timeStepMin), hi = Math.log(c.timeStepMax);
        double dt = Math.max(Math.exp(lo + u * (hi - lo)), c.timeStepFloor);
        return (float) (dt + Math.log(-Math.expm1(-dt))); // inverse of softplus
    }

    /** Approximately normal: the sum of four 16-bit uniforms (Irwin–Hall), rescaled; far cheaper than Box–Muller. */
    private static Init normal(double std) {
        float scale = (float) (std * Math.sqrt(12.0 / 4) / 65536.0);
        return (idx, r) -> {
            long s = (r & 0xffff) + ((r >>> 16) & 0xffff) + ((r >>> 32) & 0xffff) + ((r >>> 48) & 0xffff);
            return (s - 2 * 65535) * scale;
        };
    }

    private static Init uniform(float bound) {
        return (idx, r) -> (float) ((2 * unit(r) - 1) * bound);
    }

    private static double unit(long random) {
        return (random >>> 11) * 0x1.0p-53;
    }

    /** SplitMix64 finaliser: a good 64-bit hash of (seed, tensor, index) gives independent, reproducible streams. */
    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }

    private static void add(SafetensorsWriter w, long seed, String name, Init init, long... shape) {
        long key = mix(seed ^ name.hashCode() * 0x9e3779b97f4a7c15L);
        w.add(name, DType.BF16, shape, seg -> {
            long n = seg.byteSize() / 2;
            int blocks = (int) ((n + (1 << 16) - 1) >>> 16);
            Parallel.forEach(blocks, 1 << 16, b -> {
                long start = (long) b << 16;
                long end = Math.min(n, start + (1 << 16));
                for (long i = start; i < end; i++) {
                    seg.set(BF16, 2 * i, Numerics.floatToBf16(init.value(i, mix(key + i * 0x9e3779b97f4a7c15L))));
                }
            });
        });
    }

}
