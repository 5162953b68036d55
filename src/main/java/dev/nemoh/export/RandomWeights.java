package dev.nemoh.export;

import dev.nemoh.config.BlockWeights;
import dev.nemoh.config.LinearSpec;
import dev.nemoh.config.NemotronHConfig;
import dev.nemoh.config.TensorSpec;
import dev.nemoh.config.WeightSchema;
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
        WeightSchema schema = WeightSchema.of(c);
        add(w, seed, schema.embeddings, normal(INIT_STD));
        for (WeightSchema.Layer layer : schema.layers) {
            add(w, seed, layer.norm(), (idx, r) -> 1f);
            switch (layer.mixer()) {
                case BlockWeights.Mamba2 m -> {
                    add(w, seed, m.inProj(), normal(INIT_STD));
                    float bound = (float) (1 / Math.sqrt(c.convKernel));
                    add(w, seed, m.convWeight(), uniform(bound));
                    if (m.convBias().required()) add(w, seed, m.convBias(), uniform(bound));
                    add(w, seed, m.aLog(), (idx, r) -> (float) Math.log(idx + 1));
                    add(w, seed, m.d(), (idx, r) -> 1f);
                    add(w, seed, m.dtBias(), (idx, r) -> dtBias(c, r));
                    add(w, seed, m.norm(), (idx, r) -> 1f);
                    add(w, seed, m.outProj(), normal(INIT_STD / Math.sqrt(c.numLayers())));
                }
                case BlockWeights.Attention a -> {
                    for (LinearSpec l : a.adaptable()) add(w, seed, l, normal(INIT_STD));
                }
                case BlockWeights.Mlp m -> addMlp(w, seed, m);
                case BlockWeights.Moe m -> {
                    add(w, seed, m.gate(), normal(INIT_STD));
                    add(w, seed, m.correctionBias(), (idx, r) -> 0f);
                    for (BlockWeights.Mlp e : m.experts()) addMlp(w, seed, e);
                    addMlp(w, seed, m.sharedExpert());
                    if (m.latentIn() != null) {
                        add(w, seed, m.latentIn(), normal(INIT_STD));
                        add(w, seed, m.latentOut(), normal(INIT_STD));
                    }
                }
            }
        }
        add(w, seed, schema.normF, (idx, r) -> 1f);
        add(w, seed, schema.lmHead, normal(INIT_STD)); // used even when tied, as transformers does
        w.write(dir.resolve(Checkpoint.SINGLE));
    }

    private static void addMlp(SafetensorsWriter w, long seed, BlockWeights.Mlp m) {
        add(w, seed, m.upProj(), normal(INIT_STD));
        add(w, seed, m.downProj(), normal(INIT_STD));
    }

    /** A linear layer's weight, and its bias (zeros, as transformers initialises it) when config.json asks for one. */
    private static void add(SafetensorsWriter w, long seed, LinearSpec l, Init init) {
        add(w, seed, l.weight(), init);
        if (l.bias().required()) add(w, seed, l.bias(), (idx, r) -> 0f);
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

    private static void add(SafetensorsWriter w, long seed, TensorSpec spec, Init init) {
        long key = mix(seed ^ spec.name().hashCode() * 0x9e3779b97f4a7c15L);
        w.add(spec.name(), DType.BF16, spec.shape(), seg -> {
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
