package dev.nemoh.jmh;

import dev.nemoh.config.KvCacheDtype;
import dev.nemoh.kernels.CausalAttention;
import dev.nemoh.kernels.NativeKernels;
import dev.nemoh.model.HybridCache;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * Decode attention of one KV head at the 8B's shape (a GQA group of 4 query heads, head dim 128) over {@link #keys}
 * cached keys, one thread: the native kernel or the Vector API loop, on a float32 or bf16 cache. The model runs one
 * such call per KV head per attention layer per token, its KV heads spread over the cores. Run with
 * {@code scripts/jmh.sh AttentionBenchmarks}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
        "-XX:+UseTransparentHugePages"})
public class AttentionBenchmarks {
    @Param({"float32", "bfloat16"})
    public String dtype;

    @Param({"native", "vector-api"})
    public String kernel;

    @Param({"32768"})
    public int keys;

    static final int GROUP = 4, DIM = 128;
    HybridCache.KvCache kv;
    float[] q, max, sum, acc, scores;

    @Setup
    public void setup() {
        if (kernel.equals("native") && !NativeKernels.available()) throw new IllegalStateException(NativeKernels.status());
        SplittableRandom r = new SplittableRandom(1);
        kv = new HybridCache.KvCache(1, DIM, KvCacheDtype.parse(dtype, false));
        float[] rows = new float[1024 * DIM];
        for (int i = 0; i < rows.length; i++) rows[i] = (float) r.nextGaussian();
        for (int done = 0; done < keys; done += 1024) kv.append(rows, rows, Math.min(1024, keys - done));
        q = new float[GROUP * DIM];
        for (int i = 0; i < q.length; i++) q[i] = (float) r.nextGaussian();
        max = new float[GROUP];
        sum = new float[GROUP];
        acc = new float[GROUP * DIM];
        scores = new float[GROUP * NativeKernels.ATTENTION_BLOCK];
    }

    @Benchmark
    public float attend() {
        Arrays.fill(max, Float.NEGATIVE_INFINITY);
        Arrays.fill(sum, 0f);
        Arrays.fill(acc, 0f);
        float scale = (float) (1 / Math.sqrt(DIM));
        boolean bf16 = kv.dtype == KvCacheDtype.BFLOAT16;
        if (kernel.equals("vector-api") && bf16) {
            CausalAttention.attendBlocks(q, 0, GROUP, DIM, scale, kv.keysValues.keysBf16()[0], kv.keysValues.valuesBf16()[0], keys, max, sum, acc);
        } else if (kernel.equals("vector-api")) {
            CausalAttention.attendBlocks(q, 0, GROUP, DIM, scale, kv.keysValues.keys()[0], kv.keysValues.values()[0], keys, max, sum, acc, false);
        } else if (bf16) {
            NativeKernels.attend(q, 0, GROUP, DIM, kv.keysValues.keysBf16()[0], kv.keysValues.valuesBf16()[0], 0, keys, scale, max, sum, acc, scores);
        } else {
            NativeKernels.attend(q, 0, GROUP, DIM, kv.keysValues.keys()[0], kv.keysValues.values()[0], 0, keys, scale, max, sum, acc, scores);
        }
        return acc[0] / sum[0];
    }
}
