// Streaming rate of GgmlWeights' decode product (one input row) for one GGML type: a 3072 × 3072 matrix of random
// blocks in off-heap memory, ten matvecs per timing, three timings printed after warm-up (MatMul's threads: all cores).
//   java --add-modules jdk.incubator.vector -cp target/nemoh.jar tools/perf/GgmlMatvec.java Q8_0|Q4_0|Q4_K|Q5_K|Q6_K|F16|BF16
import dev.nemoh.kernels.GgmlWeights;
import dev.nemoh.kernels.MatMul;
import dev.nemoh.tensor.DType;
import dev.nemoh.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

public class GgmlMatvec {
    public static void main(String[] args) {
        DType type = DType.valueOf(args[0]);
        int rows = 3072, cols = 3072;
        long bytes = type.byteSize((long) rows * cols);
        MemorySegment seg = Arena.global().allocate(bytes, 64);
        SplittableRandom r = new SplittableRandom(1);
        for (long i = 0; i < bytes; i++) seg.set(ValueLayout.JAVA_BYTE, i, (byte) r.nextInt(256));
        GgmlWeights w = new GgmlWeights(new Tensor("w", type, new long[] {rows, cols}, seg));
        float[] x = new float[cols];
        for (int i = 0; i < cols; i++) x[i] = (float) r.nextGaussian();
        float[] y = new float[rows];
        for (int rep = 0; rep < 40; rep++) {
            long t0 = System.nanoTime();
            for (int k = 0; k < 10; k++) MatMul.matmul(x, 1, w, 1f, y);
            long t1 = System.nanoTime();
            if (rep >= 37) System.out.printf("%s: %.2f GB/s%n", type, bytes * 10 / ((t1 - t0) / 1e9) / 1e9);
        }
    }
}
