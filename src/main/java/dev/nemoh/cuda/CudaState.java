package dev.nemoh.cuda;

import dev.nemoh.config.LayerType;
import dev.nemoh.config.NemotronHConfig;
import dev.nemoh.model.LanguageModel;

import java.lang.ref.Cleaner;

/**
 * One sequence's state in device memory: per Mamba layer the conv state [convDim, K] and SSM state
 * [heads, headDim, state] (float32, the layout of the CPU {@code HybridCache}), per attention layer bf16 keys and
 * values [position, kvHeads, headDim]. The KV buffers grow by doubling, straight to the state's most tokens once
 * that is nearer than a second doubling; the device memory is freed by {@link #release} or, failing that, when the
 * state is no longer reachable.
 */
final class CudaState implements LanguageModel.SequenceState {
    private static final Cleaner CLEANER = Cleaner.create();

    /** Device pointers per layer: conv state or keys in slot 0, SSM state or values in slot 1 (0 for stateless layers). */
    final long[][] buffers;
    private final Cuda cuda;
    private final NemotronHConfig c;
    private int capacity;
    /** Tokens this state may hold at most: its KV buffers never grow beyond (what the server reserves). */
    private final int maxLength;
    private int length;
    private final Cleaner.Cleanable cleanable;
    private boolean released;

    private record Release(Cuda cuda, long[][] buffers) implements Runnable {
        @Override
        public void run() {
            cuda.makeCurrent();
            for (long[] slots : buffers) for (long p : slots) cuda.free(p);
        }
    }

    CudaState(Cuda cuda, NemotronHConfig c, int maxLength) {
        if (maxLength < 1) throw new IllegalArgumentException("a sequence state must hold at least one token, got " + maxLength);
        this.cuda = cuda;
        this.c = c;
        this.maxLength = maxLength;
        buffers = new long[c.numLayers()][2];
        capacity = Math.min(256, maxLength);
        for (int i = 0; i < buffers.length; i++) {
            if (c.layers.get(i) == LayerType.MAMBA) {
                buffers[i][0] = cuda.allocZeroed(GpuMemory.Part.CACHE, mambaBytes(0));
                buffers[i][1] = cuda.allocZeroed(GpuMemory.Part.CACHE, mambaBytes(1));
            } else if (c.layers.get(i) == LayerType.ATTENTION) {
                buffers[i][0] = cuda.alloc(GpuMemory.Part.CACHE, kvBytes(capacity));
                buffers[i][1] = cuda.alloc(GpuMemory.Part.CACHE, kvBytes(capacity));
            }
        }
        cleanable = CLEANER.register(this, new Release(cuda, buffers));
    }

    /** Frees the device memory now; the state cannot be used after. */
    @Override
    public void release() {
        released = true;
        cleanable.clean();
    }

    boolean released() {
        return released;
    }

    private long kvBytes(long tokens) {
        return 2L * tokens * c.numKeyValueHeads * c.headDim;
    }

    @Override
    public int length() {
        return length;
    }

    void advance(int tokens) {
        length += tokens;
    }

    /** Makes room for {@code extra} more tokens in every KV cache, copying what is cached into larger buffers. */
    void reserve(int extra) {
        long need = (long) length + extra;
        if (need <= capacity) return;
        if (need > maxLength) {
            throw new IllegalStateException("the sequence state holds at most " + maxLength + " tokens (its prompt + max"
                    + " tokens); " + length + " are cached and " + extra + " more came");
        }
        long doubled = Math.max(need, 2L * capacity);
        // one copy less: straight to the most tokens when the next doubling would have to go there anyway
        int grown = (int) (2 * doubled >= maxLength ? maxLength : doubled);
        for (int i = 0; i < buffers.length; i++) {
            if (c.layers.get(i) != LayerType.ATTENTION) continue;
            for (int s = 0; s < 2; s++) {
                long bigger = cuda.alloc(GpuMemory.Part.CACHE, kvBytes(grown));
                cuda.copy(bigger, buffers[i][s], kvBytes(length));
                cuda.free(buffers[i][s]);
                buffers[i][s] = bigger;
            }
        }
        capacity = grown;
    }

    /**
     * Part of a state in device memory for the prefix cache, in the state's layouts: per Mamba layer the conv and SSM
     * states, per attention layer the keys and values of {@code tokens} consecutive positions. Freed by
     * {@link #release} or, failing that, when no longer reachable.
     */
    static final class Snapshot implements LanguageModel.StateSnapshot {
        final long[][] buffers;
        final int tokens;
        private final long bytes;
        private final Cleaner.Cleanable cleanable;

        private Snapshot(Cuda cuda, long[][] buffers, int tokens, long bytes) {
            this.buffers = buffers;
            this.tokens = tokens;
            this.bytes = bytes;
            this.cleanable = CLEANER.register(this, new Release(cuda, buffers));
        }

        @Override
        public int tokens() {
            return tokens;
        }

        @Override
        public long bytes() {
            return bytes;
        }

        @Override
        public void release() {
            cleanable.clean();
        }
    }

    /** A device-to-device copy of the keys and values of positions [from, to) and of the Mamba states now. */
    Snapshot snapshot(int from, int to) {
        if (to != length || from < 0 || from >= to) {
            throw new IllegalArgumentException("a snapshot of positions [" + from + ", " + to + ") of a state of " + length);
        }
        long[][] copies = new long[buffers.length][2];
        long bytes = 0;
        try {
            for (int i = 0; i < buffers.length; i++) {
                for (int slot = 0; slot < 2; slot++) {
                    if (buffers[i][slot] == 0) continue;
                    boolean kv = c.layers.get(i) == LayerType.ATTENTION;
                    long size = kv ? kvBytes(to - from) : mambaBytes(slot);
                    copies[i][slot] = cuda.alloc(GpuMemory.Part.PREFIX_CACHE, size);
                    cuda.copy(copies[i][slot], buffers[i][slot] + (kv ? kvBytes(from) : 0), size);
                    bytes += size;
                }
            }
        } catch (RuntimeException e) {
            new Release(cuda, copies).run();
            throw e;
        }
        return new Snapshot(cuda, copies, to - from, bytes);
    }

    /** Fills this empty state from snapshots of consecutive positions from 0: their keys and values, the last's Mamba states. */
    void restore(java.util.List<LanguageModel.StateSnapshot> prefix) {
        if (length != 0) throw new IllegalArgumentException("snapshots restore into an empty state; this one holds " + length + " tokens");
        int tokens = 0;
        for (LanguageModel.StateSnapshot s : prefix) {
            if (!(s instanceof Snapshot)) throw new IllegalArgumentException("a " + s.getClass().getSimpleName() + " belongs to another backend");
            tokens += s.tokens();
        }
        if (tokens == 0) return;
        reserve(tokens);
        int pos = 0;
        for (LanguageModel.StateSnapshot s : prefix) {
            Snapshot snap = (Snapshot) s;
            for (int i = 0; i < buffers.length; i++) {
                if (c.layers.get(i) != LayerType.ATTENTION) continue;
                for (int slot = 0; slot < 2; slot++) {
                    cuda.copy(buffers[i][slot] + kvBytes(pos), snap.buffers[i][slot], kvBytes(snap.tokens));
                }
            }
            pos += snap.tokens;
        }
        Snapshot last = (Snapshot) prefix.getLast();
        for (int i = 0; i < buffers.length; i++) {
            if (c.layers.get(i) != LayerType.MAMBA) continue;
            for (int slot = 0; slot < 2; slot++) cuda.copy(buffers[i][slot], last.buffers[i][slot], mambaBytes(slot));
        }
        length = tokens;
    }

    /** Bytes of a Mamba layer's conv state (slot 0) or SSM state (slot 1). */
    private long mambaBytes(int slot) {
        return slot == 0 ? 4L * c.convDim() * c.convKernel : 4L * c.mambaNumHeads * c.mambaHeadDim * c.ssmStateSize;
    }

    /**
     * Puts the state in that of a {@code tokens}-long context with pseudo-random contents, for benchmarks: a decode
     * step costs the same whatever the cached values are.
     */
    void fillSynthetic(CudaKernels kernels, int tokens, int seed) {
        length = 0;
        reserve(tokens);
        for (int i = 0; i < buffers.length; i++) {
            if (c.layers.get(i) == LayerType.MAMBA) {
                long conv = (long) c.convDim() * c.convKernel, ssm = (long) c.mambaNumHeads * c.mambaHeadDim * c.ssmStateSize;
                kernels.fillRandomF32(CudaKernels.gridFor(conv, 256), 256, buffers[i][0], conv, seed + 2 * i, 2f);
                kernels.fillRandomF32(CudaKernels.gridFor(ssm, 256), 256, buffers[i][1], ssm, seed + 2 * i + 1, 0.2f);
            } else if (c.layers.get(i) == LayerType.ATTENTION) {
                long kv = (long) tokens * c.numKeyValueHeads * c.headDim;
                for (int s = 0; s < 2; s++) {
                    kernels.fillRandomBf16(CudaKernels.gridFor(kv, 256), 256, buffers[i][s], kv, seed + 2 * i + s, 2f);
                }
            }
        }
        length = tokens;
    }
}
