package dev.nemoh.cuda;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The FFM bindings end to end (on the GPU, else the CPU emulator): driver, memory, an NVRTC-built kernel, one cuBLAS product. */
class CudaSmokeTest {
    static Cuda cuda;

    @BeforeAll
    static void gpu() {
        cuda = TestDevice.cuda();
        cuda.makeCurrent();
        System.out.printf("GPU %s, %s, %d SMs, %.1f GiB%n", cuda.deviceName, cuda.arch(), cuda.multiprocessors,
                cuda.totalMemory / 1073741824.0);
    }

    @Test
    void memoryRoundTrip() {
        float[] data = new float[1000];
        for (int i = 0; i < data.length; i++) data[i] = i * 0.5f - 7;
        long p = cuda.alloc(GpuMemory.Part.WORKSPACE, 4L * data.length);
        cuda.upload(p, data);
        assertArrayEquals(data, cuda.downloadFloats(p, data.length));
        cuda.free(p);
    }

    @Test
    void nvrtcKernelRoundsToBf16() {
        CudaKernels kernels = new CudaKernels(cuda);
        float[] x = {1f, -2.5f, 3.140625f, 1 + 1f / 256, 1 + 3f / 512};
        long src = cuda.alloc(GpuMemory.Part.WORKSPACE, 4L * x.length), bf = cuda.alloc(GpuMemory.Part.WORKSPACE, 2L * x.length), back = cuda.alloc(GpuMemory.Part.WORKSPACE, 4L * x.length);
        cuda.upload(src, x);
        kernels.toBf16(1, 32, src, bf, x.length);
        kernels.toF32(1, 32, bf, back, x.length);
        // 1 + 3/512 lies between two bf16 values and rounds to the even one, 1 + 1/128
        assertArrayEquals(new float[] {1f, -2.5f, 3.140625f, 1f, 1 + 1f / 128}, cuda.downloadFloats(back, x.length));
        for (long q : new long[] {src, bf, back}) cuda.free(q);
    }

    @Test
    void cublasBf16ProductMatchesFloat64() {
        CudaKernels kernels = new CudaKernels(cuda);
        Cublas blas = new Cublas(cuda);
        int rows = 37, out = 300, in = 512;
        SplittableRandom r = new SplittableRandom(3);
        float[] w = new float[out * in], x = new float[rows * in];
        for (int i = 0; i < w.length; i++) w[i] = bf16((float) r.nextGaussian());
        for (int i = 0; i < x.length; i++) x[i] = bf16((float) r.nextGaussian());
        long wf = cuda.alloc(GpuMemory.Part.WORKSPACE, 4L * w.length), wb = cuda.alloc(GpuMemory.Part.WORKSPACE, 2L * w.length), xf = cuda.alloc(GpuMemory.Part.WORKSPACE, 4L * x.length),
                xb = cuda.alloc(GpuMemory.Part.WORKSPACE, 2L * x.length), y = cuda.alloc(GpuMemory.Part.WORKSPACE, 4L * rows * out);
        cuda.upload(wf, w);
        cuda.upload(xf, x);
        kernels.toBf16(64, 256, wf, wb, w.length);
        kernels.toBf16(64, 256, xf, xb, x.length);
        blas.linear(wb, xb, y, rows, out, in, false);
        float[] got = cuda.downloadFloats(y, rows * out);
        double num = 0, den = 0;
        for (int t = 0; t < rows; t++) {
            for (int o = 0; o < out; o++) {
                double ref = 0;
                for (int i = 0; i < in; i++) ref += (double) x[t * in + i] * w[o * in + i];
                num += Math.pow(got[t * out + o] - ref, 2);
                den += ref * ref;
            }
        }
        double rel = Math.sqrt(num / den);
        System.out.printf("cuBLAS bf16 GEMM %dx%dx%d: relative error %.3g vs float64%n", rows, out, in, rel);
        assertTrue(rel < 1e-5, "bf16 inputs are exact and accumulation is float32: " + rel);
        for (long q : new long[] {wf, wb, xf, xb, y}) cuda.free(q);
    }

    static float bf16(float f) {
        return dev.nemoh.tensor.Numerics.bf16ToFloat(dev.nemoh.tensor.Numerics.floatToBf16(f));
    }
}
