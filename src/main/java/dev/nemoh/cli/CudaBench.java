package dev.nemoh.cli;

import dev.nemoh.config.NemotronHConfig;
import dev.nemoh.cuda.Cuda;
import dev.nemoh.cuda.CudaModel;
import dev.nemoh.cuda.GpuMemory;
import dev.nemoh.cuda.Profiler;
import dev.nemoh.model.LanguageModel.SequenceState;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * {@code nemoh bench --device cuda}: the GPU's copy bandwidth and the decode roofline it implies, prefill tok/s
 * (median of three after a warm-up of the same length), decode tok/s at batch 1 after synthetic contexts, and the
 * aggregate tok/s of a batched decode step. Every timed call returns logits to the host, so wall-clock time covers
 * the GPU work.
 */
final class CudaBench {
    private static final int WARM_UP_STEPS = 64;

    private final ModelOption model;
    private final List<Integer> prefill, context;
    private final int decodeTokens;
    private final List<Integer> batches;
    private final boolean profile;

    CudaBench(ModelOption model, List<Integer> prefill, List<Integer> context, int decodeTokens, List<Integer> batches, boolean profile) {
        this.model = model;
        this.prefill = prefill;
        this.context = context;
        this.decodeTokens = decodeTokens;
        this.batches = batches;
        this.profile = profile;
    }

    void run() {
        Cuda cuda = Cuda.get();
        long t0 = System.nanoTime();
        try (CudaModel m = model.openCuda()) {
            NemotronHConfig c = m.config();
            double load = (System.nanoTime() - t0) / 1e9;
            cuda.memory.require(2L << 30, "the copy-bandwidth probe's two 1 GiB buffers",
                    "run bench where the weights and 2 GiB fit");
            double bandwidth = copyBandwidth(cuda, 1L << 30);
            cuda.memory.resetPeaks(); // the probe's buffers are not the model's workspace
            long bytesPerToken = m.decodeWeightBytes();
            double roofline = bandwidth / bytesPerToken;
            System.out.printf(Locale.ROOT, "model        %s (%,d params), loaded in %.1f s%n", model.resolve(), c.paramCount(), load);
            System.out.printf(Locale.ROOT, "device       %s (%s, %d SMs, %.1f GiB)%n", cuda.deviceName, cuda.arch(),
                    cuda.multiprocessors, cuda.totalMemory / 1073741824.0);
            System.out.printf(Locale.ROOT, "launches     %s%n", cuda.programmaticLaunch
                    ? "programmatic dependent launch (NEMOH_CUDA_PDL=0 turns it off)" : "plain (no programmatic dependent launch)");
            System.out.printf(Locale.ROOT, "weights      bf16, %.2f GB read per decoded token%n", bytesPerToken / 1e9);
            System.out.printf(Locale.ROOT, "copy bw      %.0f GB/s (device-to-device, bytes read + written)%n", bandwidth / 1e9);
            System.out.printf(Locale.ROOT, "roofline     %.1f tok/s decode (copy bw / bytes per token)%n%n", roofline);
            System.out.println("| phase | tokens | time (s) | tok/s | % of roofline |");
            System.out.println("| --- | --- | --- | --- | --- |");
            SplittableRandom random = new SplittableRandom(1);
            for (int n : prefill) {
                if (n <= 0) continue;
                int[] ids = random.ints(n, 0, c.vocabSize).toArray();
                // warm-up (workspace allocation, cuBLAS heuristics): two chunks size every buffer a longer prompt uses
                SequenceState warm = m.newState();
                m.forwardLast(Arrays.copyOf(ids, Math.min(n, 2 * m.prefillChunk())), warm);
                warm.release();
                double[] s = new double[3];
                for (int i = 0; i < s.length; i++) {
                    SequenceState state = m.newState(n + 1);
                    long start = System.nanoTime();
                    m.forwardLast(ids, state);
                    s[i] = (System.nanoTime() - start) / 1e9;
                    state.release();
                }
                Arrays.sort(s);
                System.out.printf(Locale.ROOT, "| prefill | %d | %.3f | %.0f | |%n", n, s[1], n / s[1]);
            }
            for (int ctx : context) {
                SequenceState state = m.newState(ctx + (WARM_UP_STEPS + 3 * decodeTokens));
                m.fillSynthetic(state, ctx, 7);
                double s = decode(m, new SequenceState[] {state}, random);
                state.release();
                double tps = decodeTokens / s;
                System.out.printf(Locale.ROOT, "| decode after %d | %d | %.3f | %.1f | %.0f%% |%n", ctx, decodeTokens, s, tps,
                        100 * tps / roofline);
            }
            int batchContext = context.isEmpty() ? 1024 : context.getFirst(); // as the CPU bench: after the first --context
            for (int batch : batches) {
                if (batch < 1) throw new IllegalArgumentException("--batch sizes must be >= 1, got " + batch);
                SequenceState[] states = new SequenceState[batch];
                for (int b = 0; b < batch; b++) {
                    states[b] = m.newState();
                    m.fillSynthetic(states[b], batchContext, 11 + b);
                }
                double s = decode(m, states, random);
                for (SequenceState st : states) st.release();
                System.out.printf(Locale.ROOT, "| decode batch %d after %d, aggregate | %d | %.3f | %.1f | |%n", batch,
                        batchContext, decodeTokens * batch, s, decodeTokens * batch / s);
            }
            System.out.println("\ndecode contexts are synthetic: caches filled with pseudo-random K/V and Mamba state of that length");
            printMemory(cuda);
            if (profile) profile(m, cuda, random);
        }
    }

    /**
     * The peaks of what the model held on the GPU, by part, beside the device's memory in use as the driver reported
     * it (CUDA context and cuBLAS included), at its most when sampled after each allocation.
     */
    private static void printMemory(Cuda cuda) {
        GpuMemory mem = cuda.memory;
        System.out.printf(Locale.ROOT, "gpu memory   peak %.2f GiB allocated: weights %.2f, cache %.2f, workspace %.2f GiB"
                        + " (peaks of each part); device in use at most %.2f GiB (cuMemGetInfo after each allocation,"
                        + " CUDA context included)%s%n",
                gib(mem.peak()), gib(mem.peak(GpuMemory.Part.WEIGHTS)), gib(mem.peak(GpuMemory.Part.CACHE)),
                gib(mem.peak(GpuMemory.Part.WORKSPACE)), gib(mem.peakDevice()),
                mem.limit() == Long.MAX_VALUE ? "" : String.format(Locale.ROOT, ", budget %.2f GiB", gib(mem.limit())));
    }

    private static double gib(long bytes) {
        return bytes / 1073741824.0;
    }

    /** Per-kernel GPU time of each prefill and of one batch-1 decode step after each context. */
    private void profile(CudaModel m, Cuda cuda, SplittableRandom random) {
        Profiler profiler = new Profiler(cuda);
        int vocab = m.config().vocabSize;
        for (int n : prefill) {
            if (n <= 0) continue;
            m.profile(profiler);
            m.forwardLast(random.ints(n, 0, vocab).toArray(), m.newState());
            m.profile(null);
            System.out.printf(Locale.ROOT, "%n### prefill %d, per kernel%n%n%s", n, Profiler.table(profiler.report()));
        }
        for (int ctx : context) {
            SequenceState state = m.newState();
            m.fillSynthetic(state, ctx, 7);
            SequenceState[] one = {state};
            for (int i = 0; i < WARM_UP_STEPS; i++) m.decodeBatch(new int[] {random.nextInt(vocab)}, one);
            m.profile(profiler);
            m.decodeBatch(new int[] {random.nextInt(vocab)}, one);
            m.profile(null);
            System.out.printf(Locale.ROOT, "%n### decode step after %d, per kernel%n%n%s", ctx, Profiler.table(profiler.report()));
        }
    }

    /**
     * Seconds for decodeTokens steps of all {@code states} together: the median of three timings, after warm-up
     * steps that also let the JIT compile the host side of a step (with too few, the first timing of a run came out
     * slower than later ones).
     */
    private double decode(CudaModel m, SequenceState[] states, SplittableRandom random) {
        int[] tokens = new int[states.length];
        for (int i = 0; i < WARM_UP_STEPS; i++) m.decodeBatch(random.ints(states.length, 0, m.config().vocabSize).toArray(), states);
        double[] s = new double[3];
        for (int r = 0; r < s.length; r++) {
            long start = System.nanoTime();
            for (int i = 0; i < decodeTokens; i++) {
                for (int b = 0; b < tokens.length; b++) tokens[b] = random.nextInt(m.config().vocabSize);
                m.decodeBatch(tokens, states);
            }
            s[r] = (System.nanoTime() - start) / 1e9;
        }
        Arrays.sort(s);
        return s[1];
    }

    /** Device-to-device copy rate counting bytes read and written, the median of five copies timed with events. */
    private static double copyBandwidth(Cuda cuda, long bytes) {
        long a = cuda.alloc(GpuMemory.Part.WORKSPACE, bytes), b = cuda.alloc(GpuMemory.Part.WORKSPACE, bytes);
        MemorySegment start = cuda.event(), end = cuda.event();
        cuda.copy(b, a, bytes); // warm-up
        float[] ms = new float[5];
        for (int i = 0; i < ms.length; i++) {
            cuda.record(start);
            cuda.copy(b, a, bytes);
            cuda.record(end);
            ms[i] = cuda.elapsedMillis(start, end);
        }
        cuda.free(a);
        cuda.free(b);
        cuda.destroyEvent(start);
        cuda.destroyEvent(end);
        Arrays.sort(ms);
        return 2.0 * bytes / (ms[2] / 1e3);
    }
}
