package dev.nemoh.jmh;

import dev.nemoh.kernels.DenseWeights;
import dev.nemoh.kernels.MatMul;
import dev.nemoh.kernels.QuantizedWeights;
import dev.nemoh.kernels.WeightMatrix;
import dev.nemoh.tensor.Tensor;
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

import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * Matmul kernels at the shape of Nemotron-H 8B's Mamba in_proj (18560 × 4096, or {@link #shape}): one row (decode, bandwidth bound)
 * and 64 rows (prefill, compute bound), per weight format. Run with {@code scripts/jmh.sh} (not part of the tests).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules", "jdk.incubator.vector", "-XX:MaxDirectMemorySize=64g"})
public class KernelBenchmarks {
    @Param({"bf16", "q8_0", "q4_0"})
    public String format;

    @Param({"1", "64"})
    public int rows;

    /** out × in; also 4096x4096 (attention projections' size, within L3) and 21504x4096 (the MLP's up_proj) */
    @Param({"18560x4096"})
    public String shape;

    WeightMatrix w;
    float[] x, y;

    @Setup
    public void setup() {
        int out = Integer.parseInt(shape.split("x")[0]), in = Integer.parseInt(shape.split("x")[1]);
        SplittableRandom r = new SplittableRandom(1);
        float[] v = new float[out * in];
        for (int i = 0; i < v.length; i++) v[i] = (float) (r.nextGaussian() * 0.02);
        // off-heap, like the mapped checkpoint weights the model reads
        Tensor heap = Tensor.ofBf16("in_proj", v, out, in);
        java.lang.foreign.MemorySegment native_ = java.lang.foreign.Arena.ofAuto().allocate(heap.data().byteSize(), 64);
        native_.copyFrom(heap.data());
        DenseWeights dense = new DenseWeights(new Tensor("in_proj", heap.dtype(), heap.shape(), native_));
        w = switch (format) {
            case "q8_0" -> QuantizedWeights.quantize(dense, QuantizedWeights.Format.Q8_0);
            case "q4_0" -> QuantizedWeights.quantize(dense, QuantizedWeights.Format.Q4_0);
            default -> dense;
        };
        x = new float[rows * in];
        for (int i = 0; i < x.length; i++) x[i] = (float) r.nextGaussian();
        y = new float[rows * out];
    }

    @Benchmark
    public float[] matmul() {
        MatMul.matmul(x, rows, w, 1f, y);
        return y;
    }
}
