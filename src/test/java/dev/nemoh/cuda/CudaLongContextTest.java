package dev.nemoh.cuda;

import dev.nemoh.Fixtures;
import dev.nemoh.config.NemotronHConfig;
import dev.nemoh.export.RandomWeights;
import dev.nemoh.model.LanguageModel.SequenceState;
import dev.nemoh.model.NemotronHModel;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Long prompts on the GPU: a prompt prefilled in chunks (--prefill-chunk) gives the logits of one pass over it, and
 * the states it leaves decode alike; the GPU memory budget refuses what does not fit in one line and counts the
 * parts it holds.
 */
class CudaLongContextTest {
    /** Mamba, attention and MLP blocks; SSD chunks of 16 tokens. */
    static final NemotronHConfig SHAPE = NemotronHConfig.builder()
            .vocabSize(256).hiddenSize(64).pattern("M*-M*")
            .attentionHeads(4, 1, 16).intermediateSize(128)
            .mamba(4, 16, 16, 1).chunkSize(16)
            .build();
    /**
     * Chunked against unchunked, both on the GPU. Chunks of 3 tokens or more take the same arithmetic in other pieces
     * (measured up to 1.1e-7 on the emulator); a last chunk of 1 or 2 tokens runs through the decode step's float32
     * GEMV instead of bf16 cuBLAS products (measured 2.0e-3), so it gets the bf16 bound of the fixture tests.
     */
    static final double CHUNKED_REL = 1e-6;

    @BeforeAll
    static void gpu() {
        TestDevice.cuda();
    }

    @Test
    void chunkedPrefillMatchesOnePassAndTheCpu(@TempDir Path tmp) {
        RandomWeights.write(SHAPE, tmp, 11);
        int[] prompt = new SplittableRandom(5).ints(100, 0, SHAPE.vocabSize).toArray();
        int[] next = {3, 200, 17};
        try (NemotronHModel cpu = NemotronHModel.load(tmp); CudaModel gpu = CudaModel.load(tmp)) {
            SequenceState cpuState = cpu.newState();
            float[] expected = cpu.forwardLast(prompt, cpuState);
            float[][] cpuNext = new float[next.length][];
            for (int i = 0; i < next.length; i++) cpuNext[i] = cpu.forwardLast(new int[] {next[i]}, cpuState);

            gpu.prefillChunk(prompt.length);
            SequenceState whole = gpu.newState();
            float[] onePass = gpu.forwardLast(prompt, whole);
            assertTrue(Fixtures.relative(onePass, Fixtures.widen(expected)) < CudaForwardFixtureTest.REL);
            float[][] wholeNext = new float[next.length][];
            for (int i = 0; i < next.length; i++) wholeNext[i] = gpu.forwardLast(new int[] {next[i]}, whole);

            // chunk sizes that divide the SSD chunk (16) or are multiples of it, and ones that do neither
            for (int chunk : new int[] {16, 32, 7, 24, 50, 99}) {
                gpu.prefillChunk(chunk);
                SequenceState state = gpu.newState();
                float[] got = gpu.forwardLast(prompt, state);
                double worst = Fixtures.relative(got, Fixtures.widen(onePass));
                for (int i = 0; i < next.length; i++) {
                    float[] step = gpu.forwardLast(new int[] {next[i]}, state);
                    worst = Math.max(worst, Fixtures.relative(step, Fixtures.widen(wholeNext[i])));
                    assertTrue(Fixtures.relative(step, Fixtures.widen(cpuNext[i])) < CudaForwardFixtureTest.REL);
                }
                System.out.printf("prefill in chunks of %d vs one pass: worst rel %.3g%n", chunk, worst);
                double bound = prompt.length % chunk > 0 && prompt.length % chunk <= CudaLinear.GEMV_MAX_ROWS
                        ? CudaForwardFixtureTest.REL : CHUNKED_REL;
                assertTrue(worst < bound, "chunks of " + chunk + ": logits differ from one pass by rel " + worst);
                state.release();
            }
        }
    }

    @Test
    void prefillChunkAdvancesTheStateOneChunkAtATime(@TempDir Path tmp) {
        RandomWeights.write(SHAPE, tmp, 12);
        int[] prompt = new SplittableRandom(6).ints(45, 0, SHAPE.vocabSize).toArray();
        try (CudaModel gpu = CudaModel.load(tmp)) {
            float[] onePass = gpu.forwardLast(prompt, gpu.newState());
            gpu.prefillChunk(20);
            SequenceState state = gpu.newState();
            float[] last = null;
            for (int from = 0; from < prompt.length; from += 20) {
                last = gpu.prefillChunk(prompt, from, Math.min(prompt.length, from + 20), state);
                assertEquals(Math.min(prompt.length, from + 20), state.length());
            }
            assertTrue(Fixtures.relative(last, Fixtures.widen(onePass)) < CHUNKED_REL); // chunks of 20, 20 and 5
            IllegalArgumentException skipped = assertThrows(IllegalArgumentException.class,
                    () -> gpu.prefillChunk(prompt, 30, 40, state));
            assertTrue(skipped.getMessage().contains("the state holds 45 tokens; the chunk starts at 30"), skipped.getMessage());
            assertThrows(IllegalArgumentException.class, () -> gpu.prefillChunk(prompt, 0, 21, gpu.newState()));
        }
    }

    @Test
    void theBudgetRefusesWhatDoesNotFitInOneLineAndCountsEachPart(@TempDir Path tmp) {
        RandomWeights.write(SHAPE, tmp, 13);
        Cuda cuda = Cuda.get();
        long weights = 2L * SHAPE.paramCount();
        try {
            cuda.memory.limit(weights / 2, "--gpu-memory 0.001");
            CudaException e = assertThrows(CudaException.class, () -> CudaModel.load(tmp));
            assertTrue(e.outOfMemory());
            assertTrue(e.getMessage().startsWith("--gpu-memory 0.001 (") && e.getMessage().contains("cannot hold the weights ("),
                    e.getMessage());
            assertTrue(!e.getMessage().contains("\n"));
            cuda.memory.unlimited();
            // other tests of this JVM may still hold some: the counts here are this model's additions
            long weightsBefore = cuda.memory.used(GpuMemory.Part.WEIGHTS), cacheBefore = cuda.memory.used(GpuMemory.Part.CACHE);
            try (CudaModel gpu = CudaModel.load(tmp)) {
                long onDevice = cuda.memory.used(GpuMemory.Part.WEIGHTS) - weightsBefore;
                assertTrue(onDevice >= weights && onDevice < weights + (1 << 20), "weights held " + onDevice + ", bf16 matrices " + weights);
                SequenceState s = gpu.newState(300);
                cuda.memory.resetPeaks();
                gpu.forwardLast(new SplittableRandom(1).ints(260, 0, SHAPE.vocabSize).toArray(), s);
                // the KV cache of 300 tokens (2 attention layers, 16 bf16 keys and values a token) and the Mamba states
                long kv = 2L * 2 * 300 * 16 * 2;
                long mamba = 2L * 4 * (SHAPE.convDim() * SHAPE.convKernel + SHAPE.mambaNumHeads * SHAPE.mambaHeadDim * SHAPE.ssmStateSize);
                assertEquals(kv + mamba, cuda.memory.used(GpuMemory.Part.CACHE) - cacheBefore);
                assertTrue(cuda.memory.peak(GpuMemory.Part.WORKSPACE) > 0);
                // the driver's count (page-rounded, the context included) is never below ours
                assertTrue(cuda.memory.peakDevice() >= cuda.memory.peak(), cuda.memory.peakDevice() + " < " + cuda.memory.peak());
                s.release();
                assertEquals(cacheBefore, cuda.memory.used(GpuMemory.Part.CACHE));
                // a cache the budget cannot hold beside the rest: refused before the driver is asked. The state is
                // made first (its first 256 tokens); the limit then leaves 16 KiB, not the 62.5 KiB a buffer of its
                // 2,000 tokens needs.
                SequenceState big = gpu.newState(2000);
                long held = 0;
                for (GpuMemory.Part p : GpuMemory.Part.values()) held += cuda.memory.used(p);
                cuda.memory.limit(held + outside(cuda) + (16 << 10), "--gpu-memory 0.002");
                CudaException cache = assertThrows(CudaException.class,
                        () -> gpu.forwardLast(new SplittableRandom(2).ints(1900, 0, SHAPE.vocabSize).toArray(), big));
                assertTrue(cache.getMessage().contains("cannot hold the KV cache and Mamba states"), cache.getMessage());
            }
        } finally {
            cuda.memory.unlimited();
        }
    }

    private static long outside(Cuda cuda) {
        long[] info = cuda.memoryInfo();
        long ours = 0;
        for (GpuMemory.Part p : GpuMemory.Part.values()) ours += cuda.memory.used(p);
        return Math.max(0, info[1] - info[0] - ours);
    }

    @Test
    void gpuMemoryValuesAreGibOrAFraction() {
        assertEquals(22L << 30, GpuMemory.parse("22", 100L << 30));
        assertEquals(50L << 30, GpuMemory.parse("0.5", 100L << 30));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> GpuMemory.parse("lots", 1L << 30));
        assertEquals("--gpu-memory must be a number of GiB (e.g. 22) or a fraction of the GPU below 1 (e.g. 0.9), not \"lots\"",
                e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> GpuMemory.parse("0", 1L << 30));
        assertThrows(IllegalArgumentException.class, () -> GpuMemory.parse("-3", 1L << 30));
    }
}
