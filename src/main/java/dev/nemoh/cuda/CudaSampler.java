package dev.nemoh.cuda;

import dev.nemoh.generate.Sampler;
import dev.nemoh.generate.SamplingParams;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Picks the next token of each row of a decode step's logits on the GPU ({@code sample.cu}) with the semantics of
 * that row's CPU {@link Sampler}: its request's penalties (from the prompt and the tokens it has accepted), greedy or
 * temperature, top-k, top-p and min-p, and a draw seeded by the request's seed and position, so that only the chosen
 * ids cross the bus. Rows whose sampler wants logprobs or has a token mask (structured output) are left to the host
 * ({@link #onDevice}); the caller copies their logits back instead. The sampler is not advanced: the caller
 * {@linkplain Sampler#accept accepts} what it appends.
 */
final class CudaSampler {
    /** Per row: six settings (double), two Philox words, four ints (see sample_rows). */
    private static final int PARAMS = 6, RNG = 2, INTS = 4;
    private static final int MAX_THREADS = 1024;

    private final CudaDevice device;
    private final PinnedBuffer pinnedInputs;
    /** Its own buffers: their growing must not move the decode step's, whose captured graphs would then be stale. */
    private final Workspace workspace;

    CudaSampler(CudaDevice device) {
        this.device = device;
        this.pinnedInputs = new PinnedBuffer(device.cuda);
        this.workspace = new Workspace(device.cuda);
    }

    /** Whether the row of {@code sampler} is picked on the GPU: not when it wants logprobs or has a token mask. */
    static boolean onDevice(Sampler sampler) {
        return sampler != null && sampler.params().logprobs() < 0 && !sampler.masked();
    }

    /**
     * Queues the picks of rows {@code [0, samplers.length)} of {@code logits} [rows, vocab] (penalised in place;
     * rows not {@linkplain #onDevice on the device} are left as they are); returns the device buffer of the picked
     * ids [rows]: -1 where a logit was NaN or +inf or every logit -inf, undefined for the host's rows. The staging
     * memory is reused: the stream must have finished the previous call's upload.
     */
    long launch(long logits, int vocab, Sampler[] samplers) {
        int rows = samplers.length;
        int pairs = 0;
        for (Sampler s : samplers) if (onDevice(s) && s.params().penalises()) pairs += s.penalisedTokens().length;
        long paramBytes = 8L * PARAMS * rows, rngBytes = 8L * RNG * rows, intBytes = 4L * INTS * rows;
        long bytes = paramBytes + rngBytes + intBytes + 8L * pairs;
        MemorySegment host = pinnedInputs.get(bytes);
        int pair = 0;
        for (int b = 0; b < rows; b++) {
            Sampler s = samplers[b];
            long ints = (paramBytes + rngBytes) / 4 + (long) INTS * b;
            if (!onDevice(s)) {
                for (int i = 0; i < INTS; i++) host.setAtIndex(ValueLayout.JAVA_INT, ints + i, i == 3 ? 1 : 0);
                continue;
            }
            SamplingParams p = s.params();
            double[] settings = {p.temperature(), p.topP(), p.minP(), p.repetitionPenalty(), p.presencePenalty(),
                    p.frequencyPenalty()};
            MemorySegment.copy(settings, 0, host, ValueLayout.JAVA_DOUBLE, 8L * PARAMS * b, PARAMS);
            host.setAtIndex(ValueLayout.JAVA_LONG, paramBytes / 8 + (long) RNG * b, s.seed());
            host.setAtIndex(ValueLayout.JAVA_LONG, paramBytes / 8 + (long) RNG * b + 1, s.generatedCount());
            int[] tokens = p.penalises() ? s.penalisedTokens() : new int[0];
            host.setAtIndex(ValueLayout.JAVA_INT, ints, p.topK() > 0 ? p.topK() : 0);
            host.setAtIndex(ValueLayout.JAVA_INT, ints + 1, pair);
            host.setAtIndex(ValueLayout.JAVA_INT, ints + 2, tokens.length);
            host.setAtIndex(ValueLayout.JAVA_INT, ints + 3, 0);
            long at = (paramBytes + rngBytes + intBytes) / 4;
            for (int t : tokens) {
                host.setAtIndex(ValueLayout.JAVA_INT, at + 2L * pair, t);
                host.setAtIndex(ValueLayout.JAVA_INT, at + 2L * pair + 1, s.count(t));
                pair++;
            }
        }
        Workspace ws = workspace;
        long dev = ws.get("sample.inputs", bytes);
        device.cuda.uploadAsync(dev, host, bytes);
        long weight = ws.get("sample.weight", 4L * rows * vocab);
        long ids = ws.get("sample.ids", 4L * rows);
        device.kernels.sampleRows(rows, threads(vocab), logits, vocab, dev, dev + paramBytes + rngBytes, dev + paramBytes,
                dev + paramBytes + rngBytes + intBytes, weight, ids);
        return ids;
    }

    /** A power of two from 32 (one warp) up to 1024, about one thread per token. */
    static int threads(int vocab) {
        int n = 32;
        while (n < vocab && n < MAX_THREADS) n <<= 1;
        return n;
    }

    void free() {
        pinnedInputs.free();
        workspace.close();
    }
}
