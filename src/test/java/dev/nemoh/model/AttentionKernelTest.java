package dev.nemoh.model;

import dev.nemoh.Requirements;
import dev.nemoh.Tolerance;
import dev.nemoh.config.KvCacheDtype;
import dev.nemoh.model.HybridCache;
import dev.nemoh.kernels.NativeKernels;
import dev.nemoh.tensor.Numerics;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.Arrays;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Decode attention of one KV head's query group, by the Vector API loop and by the native kernel, against softmax
 * attention in float64 over the same cached keys and values (for a bf16 cache: the rounded values it holds).
 */
class AttentionKernelTest {
    record Case(float[] q, HybridCache.KvCache kv, double[] expected) {}

    static Case randomCase(int group, int dim, int keys, KvCacheDtype dtype, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] q = new float[group * dim];
        for (int i = 0; i < q.length; i++) q[i] = (float) r.nextGaussian();
        HybridCache.KvCache kv = new HybridCache.KvCache(1, dim, dtype);
        float[] k = new float[keys * dim], v = new float[keys * dim];
        for (int i = 0; i < k.length; i++) {
            // scores of a few units, as trained models have, so that the softmax is neither flat nor one-hot
            k[i] = (float) (r.nextGaussian() * 2);
            v[i] = (float) r.nextGaussian();
        }
        kv.append(k, v, keys);
        if (dtype == KvCacheDtype.BFLOAT16) {
            for (int i = 0; i < k.length; i++) {
                k[i] = Numerics.bf16ToFloat(Numerics.floatToBf16(k[i]));
                v[i] = Numerics.bf16ToFloat(Numerics.floatToBf16(v[i]));
            }
        }
        double scale = 1 / Math.sqrt(dim);
        double[] expected = new double[group * dim];
        for (int g = 0; g < group; g++) {
            double[] s = new double[keys];
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < keys; j++) {
                for (int d = 0; d < dim; d++) s[j] += (double) q[g * dim + d] * k[j * dim + d];
                s[j] *= scale;
                max = Math.max(max, s[j]);
            }
            double sum = 0;
            for (int j = 0; j < keys; j++) sum += s[j] = Math.exp(s[j] - max);
            for (int j = 0; j < keys; j++) {
                for (int d = 0; d < dim; d++) expected[g * dim + d] += s[j] / sum * v[j * dim + d];
            }
        }
        return new Case(q, kv, expected);
    }

    /** The attention output, acc / sum, of a run that left its state in max, sum and acc. */
    static float[] output(int group, int dim, float[] sum, float[] acc) {
        float[] out = new float[group * dim];
        for (int i = 0; i < out.length; i++) out[i] = acc[i] / sum[i / dim];
        return out;
    }

    /** Max abs error against float64 as measured per kernel and case; bounds are about ten times these. */
    static final java.util.Map<String, Double> MEASURED = Tolerance.measured(
            "Vector API FLOAT32 group 4 dim 128 keys 1", 0.0,
            "Vector API FLOAT32 group 4 dim 128 keys 130", 4.5e-7,
            "Vector API BFLOAT16 group 5 dim 64 keys 63", 5.7e-7,
            "Vector API FLOAT32 group 1 dim 16 keys 2100", 1.6e-7,
            "Vector API BFLOAT16 group 4 dim 128 keys 2100", 7.8e-7,
            "Vector API BFLOAT16 group 16 dim 16 keys 7", 3.6e-7,
            "Vector API FLOAT32 group 2 dim 24 keys 129", 3.1e-7,
            "native FLOAT32 group 4 dim 128 keys 1", 0.0,
            "native FLOAT32 group 4 dim 128 keys 130", 5.7e-7,
            "native BFLOAT16 group 5 dim 64 keys 63", 5.1e-7,
            "native FLOAT32 group 1 dim 16 keys 2100", 1.3e-7,
            "native BFLOAT16 group 4 dim 128 keys 2100", 1.1e-6,
            "native BFLOAT16 group 16 dim 16 keys 7", 2.9e-7,
            "native FLOAT32 group 6 dim 32 keys 300", 4.7e-7);

    static void assertClose(double[] expected, float[] actual, String what) {
        double worst = 0;
        for (int i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
        Tolerance.check(what, worst, Tolerance.of(MEASURED, what.replaceFirst(" in chunks of \\d+", "")));
    }

    static String key(String kernel, int group, int dim, int keys, KvCacheDtype dtype) {
        return kernel + " " + dtype + " group " + group + " dim " + dim + " keys " + keys;
    }

    @ParameterizedTest
    @CsvSource({"4, 128, 1, FLOAT32", "4, 128, 130, FLOAT32", "5, 64, 63, BFLOAT16", "1, 16, 2100, FLOAT32",
            "4, 128, 2100, BFLOAT16", "16, 16, 7, BFLOAT16", "2, 24, 129, FLOAT32"})
    void vectorApiLoopMatchesFloat64(int group, int dim, int keys, KvCacheDtype dtype) {
        Case c = randomCase(group, dim, keys, dtype, group * 1000L + keys);
        float[] max = new float[group], sum = new float[group], acc = new float[group * dim];
        Arrays.fill(max, Float.NEGATIVE_INFINITY);
        AttentionMixer.attendBlocks(c.q, 0, group, dim, (float) (1 / Math.sqrt(dim)), c.kv, 0, keys, max, sum, acc);
        assertClose(c.expected, output(group, dim, sum, acc), key("Vector API", group, dim, keys, dtype));
    }

    /** The native kernel in chunks of several sizes (the caller's chunks carry the softmax state between calls). */
    @ParameterizedTest
    @CsvSource({"4, 128, 1, FLOAT32", "4, 128, 130, FLOAT32", "5, 64, 63, BFLOAT16", "1, 16, 2100, FLOAT32",
            "4, 128, 2100, BFLOAT16", "16, 16, 7, BFLOAT16", "6, 32, 300, FLOAT32"})
    void nativeKernelMatchesFloat64(int group, int dim, int keys, KvCacheDtype dtype) {
        Requirements.assumeNative();
        Case c = randomCase(group, dim, keys, dtype, group * 1000L + keys);
        for (int chunk : new int[] {keys, 100, 64, 1}) {
            float[] max = new float[group], sum = new float[group], acc = new float[group * dim];
            Arrays.fill(max, Float.NEGATIVE_INFINITY);
            float[] scores = new float[group * NativeKernels.ATTENTION_BLOCK];
            for (int s0 = 0; s0 < keys; s0 += chunk) {
                int n = Math.min(chunk, keys - s0);
                float scale = (float) (1 / Math.sqrt(dim));
                if (dtype == KvCacheDtype.BFLOAT16) {
                    NativeKernels.attend(c.q, 0, group, dim, c.kv.keysBf16(0), c.kv.valuesBf16(0), s0, n, scale, max, sum, acc, scores);
                } else {
                    NativeKernels.attend(c.q, 0, group, dim, c.kv.keys(0), c.kv.values(0), s0, n, scale, max, sum, acc, scores);
                }
            }
            assertClose(c.expected, output(group, dim, sum, acc), key("native", group, dim, keys, dtype) + " in chunks of " + chunk);
        }
    }

    @Test
    void nativeKernelRefusesArraysTooSmall() {
        Requirements.assumeNative();
        Case c = randomCase(4, 32, 10, KvCacheDtype.FLOAT32, 1);
        float[] max = new float[4], sum = new float[4], acc = new float[4 * 32], scores = new float[4 * NativeKernels.ATTENTION_BLOCK];
        float[] k = c.kv.keys(0), v = c.kv.values(0);
        // keys past the end of the cache's arrays
        assertThrows(IllegalArgumentException.class,
                () -> NativeKernels.attend(c.q, 0, 4, 32, k, v, k.length / 32, 1, 1f, max, sum, acc, scores));
        // a head dimension that is not a multiple of 16
        assertThrows(IllegalArgumentException.class,
                () -> NativeKernels.attend(c.q, 0, 4, 24, k, v, 0, 1, 1f, max, sum, acc, scores));
        // a head dimension over the kernel's stack buffer
        assertThrows(IllegalArgumentException.class,
                () -> NativeKernels.attend(new float[4 * 272], 0, 4, 272, new float[272], new float[272], 0, 1, 1f, max, sum, new float[4 * 272], scores));
        // scratch for fewer query heads than asked for
        assertThrows(IllegalArgumentException.class,
                () -> NativeKernels.attend(c.q, 0, 4, 32, k, v, 0, 1, 1f, max, sum, acc, new float[NativeKernels.ATTENTION_BLOCK]));
    }
}
