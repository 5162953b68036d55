package dev.nemoh.cuda;

import dev.nemoh.tensor.Numerics;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The split-key decode attention against a double-precision softmax attention over the same bf16 keys and values:
 * cache lengths 1, 37 and 4,100 (past a 4,096 bucket), GQA groups of 1, 4, 5, 8 and 16 query heads, head dims 64 and 128,
 * each with one split (one block reads the whole cache), the splits a short cache gets and the most splits.
 */
class CudaDecodeAttentionTest {
    /** float32 accumulation against double: measured up to 4e-7 on the emulator. */
    static final double REL = 5e-6;

    @BeforeAll
    static void gpu() {
        TestDevice.cuda();
    }

    @Test
    void splitKeyAttentionMatchesTheReference() {
        Cuda cuda = TestDevice.cuda();
        CudaDevice d = new CudaDevice(cuda);
        try {
            double worst = 0;
            for (int headDim : new int[] {64, 128}) {
                for (int group : new int[] {1, 4, 5, 8, 16}) {
                    for (int keys : new int[] {1, 37, 4100}) {
                        int kvHeads = keys > 1000 ? 1 : 2, heads = group * kvHeads;
                        CudaDecodeAttention attention = new CudaDecodeAttention(heads, kvHeads, headDim, cuda.multiprocessors);
                        int bucket = Math.max(1024, Integer.highestOneBit(keys - 1) << 1);
                        for (int splits : new int[] {1, attention.splits(1, bucket), CudaDecodeAttention.MAX_SPLITS}) {
                            worst = Math.max(worst, check(cuda, d, attention, heads, kvHeads, headDim, keys, splits));
                        }
                    }
                }
            }
            System.out.printf("split-key decode attention vs double reference: worst rel %.3g%n", worst);
        } finally {
            d.close();
        }
    }

    private static double check(Cuda cuda, CudaDevice d, CudaDecodeAttention attention, int heads, int kvHeads,
                                int headDim, int keys, int splits) {
        SplittableRandom random = new SplittableRandom(keys * 31L + heads * 7L + headDim);
        int qWidth = heads * headDim, kvWidth = kvHeads * headDim, stride = qWidth + 2 * kvWidth;
        float[] qkv = new float[stride];
        for (int i = 0; i < qWidth; i++) qkv[i] = (float) random.nextGaussian();
        short[] k = new short[keys * kvWidth], v = new short[keys * kvWidth];
        for (int i = 0; i < k.length; i++) {
            k[i] = Numerics.floatToBf16((float) (2 * random.nextGaussian()));
            v[i] = Numerics.floatToBf16((float) random.nextGaussian());
        }
        long dq = cuda.alloc(GpuMemory.Part.WORKSPACE, 4L * stride), dk = cuda.alloc(GpuMemory.Part.CACHE, 2L * k.length);
        long dv = cuda.alloc(GpuMemory.Part.CACHE, 2L * v.length), tables = cuda.alloc(GpuMemory.Part.WORKSPACE, 16);
        long lengths = cuda.alloc(GpuMemory.Part.WORKSPACE, 4), out = cuda.alloc(GpuMemory.Part.WORKSPACE, 4L * qWidth);
        try (Arena a = Arena.ofConfined()) {
            cuda.upload(dq, qkv);
            cuda.upload(dk, a.allocateFrom(ValueLayout.JAVA_SHORT, k), 2L * k.length);
            cuda.upload(dv, a.allocateFrom(ValueLayout.JAVA_SHORT, v), 2L * v.length);
            MemorySegment t = a.allocate(16, 8);
            t.set(ValueLayout.JAVA_LONG, 0, dk);
            t.set(ValueLayout.JAVA_LONG, 8, dv);
            cuda.upload(tables, t, 16);
            cuda.upload(lengths, new int[] {keys - 1}); // the step's token is already appended
            attention.attend(d, 1, splits, dq, stride, tables, tables + 8, lengths, out);
            float[] got = cuda.downloadFloats(out, qWidth);
            double num = 0, den = 0;
            int group = heads / kvHeads;
            for (int h = 0; h < heads; h++) {
                int g = h / group;
                double[] p = new double[keys];
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < keys; j++) {
                    double s = 0;
                    for (int i = 0; i < headDim; i++) {
                        s += qkv[h * headDim + i] * (double) Numerics.bf16ToFloat(k[j * kvWidth + g * headDim + i]);
                    }
                    p[j] = s / Math.sqrt(headDim);
                    max = Math.max(max, p[j]);
                }
                double sum = 0;
                for (int j = 0; j < keys; j++) sum += p[j] = Math.exp(p[j] - max);
                for (int i = 0; i < headDim; i++) {
                    double o = 0;
                    for (int j = 0; j < keys; j++) o += p[j] * Numerics.bf16ToFloat(v[j * kvWidth + g * headDim + i]);
                    o /= sum;
                    num += (got[h * headDim + i] - o) * (got[h * headDim + i] - o);
                    den += o * o;
                }
            }
            double rel = Math.sqrt(num / den);
            assertTrue(rel < REL, "cache " + keys + ", " + heads + "/" + kvHeads + " heads, head dim " + headDim + ", "
                    + splits + " splits: relative error " + rel);
            return rel;
        } finally {
            for (long p : new long[] {dq, dk, dv, tables, lengths, out}) cuda.free(p);
        }
    }
}
