package dev.nemoh.cuda;

import dev.nemoh.config.NemotronHConfig;
import dev.nemoh.config.WeightSchema;
import dev.nemoh.generate.BatchDecoder;
import dev.nemoh.generate.Sampler;
import dev.nemoh.kernels.DenseWeights;
import dev.nemoh.model.AttentionMixer;
import dev.nemoh.model.Block;
import dev.nemoh.model.LanguageModel;
import dev.nemoh.model.Linear;
import dev.nemoh.model.Mamba2Mixer;
import dev.nemoh.model.MlpMixer;
import dev.nemoh.model.MoeMixer;
import dev.nemoh.model.NemotronHModel;
import dev.nemoh.model.TimeStepClamp;
import dev.nemoh.model.WeightFormat;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * NemotronHForCausalLM on an NVIDIA GPU: the checkpoint is read through the CPU model's loader (same names, shapes
 * and checks) and its weights uploaded as bf16; activations and Mamba states are float32, KV caches bf16. Prompts
 * go through cuBLAS and the SSD chunked scan; decode steps, batched over sequences, through our GEMV and recurrent
 * kernels. Every call leaves the GPU idle when it returns (the logits are copied back), except {@link #start}, which
 * queues a decode step whose tokens are picked on the GPU and returns before it runs. A decode step, some 250
 * small kernels, is captured once into a CUDA graph per batch size and replayed: its inputs (token ids, lengths,
 * state tables) sit in fixed device buffers that are refreshed before each replay, and the graph is captured again
 * when a workspace buffer moves.
 */
public final class CudaModel implements LanguageModel, BatchDecoder {
    /** Default of {@link #prefillChunk}. */
    public static final int DEFAULT_PREFILL_CHUNK = 2048;
    /** One 16-byte group of a 4096-wide row per thread: a decode step's norms are single blocks, so width is latency. */
    private static final int NORM_THREADS = 1024;

    private final NemotronHConfig config;
    private final CudaDevice device;
    private final Cuda cuda;
    private final CudaLinear embeddings;
    private final long[] norms;
    private final CudaMixer[] mixers;
    private final long normF;
    private final CudaLinear lmHead;
    private final float eps;
    private final TimeStepClamp clamp;
    /** The captured decode step of each batch size, and the workspace generation it was captured with. */
    private final Map<Long, DecodeGraph> graphs = new HashMap<>();
    private final PinnedBuffer pinnedInputs, pinnedLogits;
    /**
     * Most tokens of a prompt run through the blocks at once ({@code --prefill-chunk}): activation buffers are sized
     * to a chunk, not to the prompt, and a longer prompt continues chunk by chunk through the state.
     */
    private int prefillChunk = DEFAULT_PREFILL_CHUNK;
    private final CudaSampler sampler;
    /** Events around a sampled step's forward pass, picks and copies, for the time each takes. */
    private final MemorySegment[] marks = new MemorySegment[4];

    private record DecodeGraph(MemorySegment exec, long generation, long logits) {}

    /** Loads a Hugging Face model directory onto GPU 0. */
    public static CudaModel load(Path dir, TimeStepClamp clamp, NemotronHModel.LoadProgress progress) {
        Cuda cuda = Cuda.get();
        try (NemotronHModel cpu = NemotronHModel.load(dir, clamp, WeightFormat.AS_STORED, progress)) {
            return new CudaModel(cuda, cpu, clamp);
        }
    }

    public static CudaModel load(Path dir) {
        return load(dir, TimeStepClamp.TRANSFORMERS, null);
    }

    private CudaModel(Cuda cuda, NemotronHModel cpu, TimeStepClamp clamp) {
        NemotronHConfig c = cpu.config;
        this.config = c;
        this.cuda = cuda;
        // the bf16 matrices alone; the float32 vectors and the rest are checked as they are allocated
        cuda.memory.require(GpuMemory.Part.WEIGHTS, 2L * c.paramCount(), "the weights");
        this.device = new CudaDevice(cuda);
        this.eps = (float) c.layerNormEpsilon;
        this.clamp = clamp;
        embeddings = CudaLinear.upload(cuda, new Linear(WeightSchema.of(c).embeddings.name(), new DenseWeights(cpu.embeddings), 1f, null));
        norms = new long[c.numLayers()];
        mixers = new CudaMixer[c.numLayers()];
        for (Block b : cpu.blocks) {
            norms[b.index()] = CudaMamba2Mixer.floats(cuda, b.norm().weight);
            mixers[b.index()] = switch (b.mixer()) {
                case Mamba2Mixer m -> new CudaMamba2Mixer(cuda, c, clamp, m);
                case AttentionMixer a -> new CudaAttentionMixer(cuda, c, a);
                case MlpMixer m -> CudaMlpMixer.upload(cuda, m);
                case MoeMixer m -> new CudaMoeMixer(cuda, c, m);
                default -> throw new CudaException(b.type() + " blocks are not supported on cuda yet; use --device cpu");
            };
        }
        normF = CudaMamba2Mixer.floats(cuda, cpu.normF.weight);
        lmHead = CudaLinear.upload(cuda, cpu.lmHead);
        pinnedInputs = new PinnedBuffer(cuda);
        pinnedLogits = new PinnedBuffer(cuda);
        sampler = new CudaSampler(device);
        for (int i = 0; i < marks.length; i++) marks[i] = cuda.event();
    }

    @Override
    public NemotronHConfig config() {
        return config;
    }

    /** The GPU this model runs on, as the driver names it. */
    public String deviceName() {
        return cuda.deviceName;
    }

    @Override
    public SequenceState newState() {
        cuda.makeCurrent();
        return new CudaState(cuda, config, Integer.MAX_VALUE);
    }

    @Override
    public SequenceState newState(int maxLength) {
        cuda.makeCurrent();
        return new CudaState(cuda, config, maxLength);
    }

    /** Weights and KV caches in bf16, activations and Mamba states in float32 (see the class comment). */
    @Override
    public String stateIdentity() {
        return "cuda weights=bf16 kv=bf16 clamp=" + clamp;
    }

    /**
     * Device-to-device copies: a snapshot holds device memory, within the prefix cache's bound; none (null) when the
     * GPU or {@code --gpu-memory} has no room for it now, which costs the cache an entry and no request its answer.
     */
    @Override
    public StateSnapshot snapshot(SequenceState state, int from, int to) {
        cuda.makeCurrent();
        try {
            return gpuState(state).snapshot(from, to);
        } catch (CudaException e) {
            if (e.outOfMemory()) return null;
            throw e;
        }
    }

    @Override
    public void restore(SequenceState state, java.util.List<StateSnapshot> prefix) {
        cuda.makeCurrent();
        gpuState(state).restore(prefix);
    }

    /** States live in GPU memory: the server's heap check does not apply to them. */
    @Override
    public boolean statesOnHeap() {
        return false;
    }

    /** The GPU keeps keys and values in bf16 (see {@link CudaState}). */
    @Override
    public long cacheBytes(long contextLength) {
        return config.cacheBytes(contextLength, 2);
    }

    @Override
    public long decodeWeightBytes() {
        long bytes = lmHead.bytes() + 2L * config.hiddenSize;
        for (CudaMixer m : mixers) bytes += m.decodeWeightBytes();
        return bytes;
    }

    @Override
    public float[] forwardLast(int[] ids, SequenceState state) {
        return prompt(ids, gpuState(state), false);
    }

    /** The logits of every position of {@code ids}, [len, vocab], continuing {@code state}. */
    public float[] forward(int[] ids, SequenceState state) {
        return prompt(ids, gpuState(state), true);
    }

    private float[] prompt(int[] ids, CudaState s, boolean allLogits) {
        if (ids.length == 0) throw new IllegalArgumentException("no input tokens");
        if (ids.length == 1) return decodeBatch(ids, new SequenceState[] {s}); // the captured decode step
        checkIds(ids);
        cuda.makeCurrent();
        s.reserve(ids.length); // the cache for the whole prompt at once, not regrown chunk by chunk
        int v = config.vocabSize;
        float[] logits = allLogits ? new float[ids.length * v] : null;
        for (int start = 0; start < ids.length; start += prefillChunk) {
            int end = Math.min(ids.length, start + prefillChunk);
            float[] chunk = chunk(ids, start, end, s, allLogits);
            if (!allLogits) logits = chunk;
            else System.arraycopy(chunk, 0, logits, start * v, chunk.length);
        }
        return logits;
    }

    /**
     * Advances {@code state} by the next chunk of its prompt, {@code ids[from, to)} (at most {@link #prefillChunk}
     * tokens, the state holding {@code ids[0, from)}): the conv and SSM states and the KV cache carry over, so a
     * prompt fed chunk by chunk ends in the state one pass over it reaches. Returns the logits of the chunk's last
     * token. A scheduler can mix such chunks of a long prompt between the decode steps of other sequences.
     */
    public float[] prefillChunk(int[] ids, int from, int to, SequenceState state) {
        CudaState s = gpuState(state);
        if (from < 0 || to > ids.length || to - from < 1 || to - from > prefillChunk) {
            throw new IllegalArgumentException("a prefill chunk is 1 to " + prefillChunk + " tokens of the prompt, not ["
                    + from + ", " + to + ") of " + ids.length);
        }
        if (s.length() != from) {
            throw new IllegalArgumentException("the state holds " + s.length() + " tokens; the chunk starts at " + from);
        }
        int[] chunk = java.util.Arrays.copyOfRange(ids, from, to);
        checkIds(chunk);
        cuda.makeCurrent();
        return chunk(ids, from, to, s, false);
    }

    /** Runs {@code ids[from, to)} through the model on top of {@code s}; the logits of every token or of the last. */
    private float[] chunk(int[] ids, int from, int to, CudaState s, boolean allLogits) {
        int len = to - from, v = config.vocabSize;
        s.reserve(len);
        long x = blocks(inputs(java.util.Arrays.copyOfRange(ids, from, to), new CudaState[] {s}, len));
        float[] logits = allLogits ? cuda.downloadFloats(head(x, 0, len), len * v) : cuda.downloadFloats(head(x, len - 1, 1), v);
        s.advance(len);
        return logits;
    }

    /** The most prompt tokens run at once. */
    public int prefillChunk() {
        return prefillChunk;
    }

    /** Sets {@link #prefillChunk}, the most prompt tokens run at once ({@code --prefill-chunk}). */
    public void prefillChunk(int tokens) {
        if (tokens < 1) throw new IllegalArgumentException("--prefill-chunk must be at least 1 token, got " + tokens);
        prefillChunk = tokens;
    }

    @Override
    public float[] decodeBatch(int[] tokens, SequenceState[] states) {
        int batch = tokens.length;
        long logits = decodeStep(tokens, states);
        long bytes = 4L * batch * config.vocabSize;
        MemorySegment host = pinnedLogits.get(bytes);
        cuda.downloadAsync(host, logits, bytes);
        cuda.synchronizeStream();
        return host.toArray(ValueLayout.JAVA_FLOAT);
    }

    /**
     * The decode step with its picks made on the GPU ({@link CudaSampler}): only the picked ids come back, and the
     * logits of the rows whose sampler the GPU does not run (logprobs, token masks). Nothing waits for the GPU until
     * {@link Step#finish}.
     */
    @Override
    public Step start(int[] tokens, SequenceState[] states, Sampler[] samplers) {
        if (samplers.length != tokens.length) {
            throw new IllegalArgumentException(samplers.length + " samplers for " + tokens.length + " sequences");
        }
        int batch = tokens.length, v = config.vocabSize;
        cuda.record(marks[0]);
        long logits = decodeStep(tokens, states);
        cuda.record(marks[1]);
        long ids = sampler.launch(logits, v, samplers);
        cuda.record(marks[2]);
        int hostRows = 0;
        for (Sampler s : samplers) if (!CudaSampler.onDevice(s)) hostRows++;
        MemorySegment host = pinnedLogits.get(4L * batch + 4L * hostRows * v);
        cuda.downloadAsync(host, ids, 4L * batch);
        int[] rowAt = new int[batch];
        for (int b = 0, r = 0; b < batch; b++) {
            rowAt[b] = -1;
            if (CudaSampler.onDevice(samplers[b])) continue;
            rowAt[b] = r;
            cuda.downloadAsync(host.asSlice(4L * batch + 4L * r * v), logits + 4L * b * v, 4L * v);
            r++;
        }
        cuda.record(marks[3]);
        return () -> {
            cuda.synchronizeStream();
            int[] picked = host.asSlice(0, 4L * batch).toArray(ValueLayout.JAVA_INT);
            float[][] rows = new float[batch][];
            for (int b = 0; b < batch; b++) {
                if (rowAt[b] >= 0) {
                    rows[b] = host.asSlice(4L * batch + 4L * rowAt[b] * v, 4L * v).toArray(ValueLayout.JAVA_FLOAT);
                    picked[b] = -1;
                } else if (picked[b] < 0) {
                    throw new IllegalStateException("the logits of sequence " + b + " hold NaN or +infinity, or only"
                            + " -infinity: no token can be sampled; the model output is broken");
                }
            }
            return new Picks(picked, rows, nanos(marks[0], marks[1]), nanos(marks[1], marks[2]), nanos(marks[2], marks[3]));
        };
    }

    private long nanos(MemorySegment from, MemorySegment to) {
        return (long) (cuda.elapsedMillis(from, to) * 1e6);
    }

    /** Queues one decode step (the captured graph where it can) and returns the logits' buffer [batch, vocab]. */
    private long decodeStep(int[] tokens, SequenceState[] states) {
        if (tokens.length != states.length) {
            throw new IllegalArgumentException(tokens.length + " tokens for " + states.length + " sequences");
        }
        checkIds(tokens);
        cuda.makeCurrent();
        CudaState[] s = new CudaState[states.length];
        for (int b = 0; b < s.length; b++) {
            s[b] = gpuState(states[b]);
            s[b].reserve(1);
        }
        int batch = tokens.length;
        CudaStep step = inputs(tokens, s, 1);
        long logits;
        // a decode step's launch shapes depend on the batch and the bucket of the longest cache (CudaStep.lengthBucket)
        long key = (long) batch << 32 | step.lengthBucket();
        DecodeGraph graph = graphs.get(key);
        if (graph != null && graph.generation == device.workspace.generation() && device.kernels.profiler == null) {
            cuda.launchGraph(graph.exec);
            logits = graph.logits;
        } else {
            // run it eagerly, which also sizes every workspace buffer, then capture it for the next steps
            logits = head(blocks(step), 0, batch);
            if (device.kernels.profiler == null) {
                if (graph != null) cuda.destroyGraph(graph.exec);
                long generation = device.workspace.generation();
                MemorySegment exec = cuda.captureGraph(() -> head(blocks(step), 0, batch));
                graphs.put(key, new DecodeGraph(exec, generation, logits));
            }
        }
        for (CudaState st : s) st.advance(1);
        return logits;
    }

    /** Times every kernel and cuBLAS product with {@code profiler} from now on; null stops it. */
    public void profile(Profiler profiler) {
        device.kernels.profiler = profiler;
        device.blas.profiler = profiler;
    }

    /** Fills a state as if it had consumed {@code tokens} tokens, for benchmarks (see {@link CudaState#fillSynthetic}). */
    public void fillSynthetic(SequenceState state, int tokens, int seed) {
        cuda.makeCurrent();
        gpuState(state).fillSynthetic(device.kernels, tokens, seed);
    }

    /**
     * Uploads the inputs of a forward call over {@code ids}: {@code len} tokens of each of {@code states} (room for
     * them reserved), with each sequence's length and state buffers.
     */
    private CudaStep inputs(int[] ids, CudaState[] states, int len) {
        int sequences = states.length, rows = ids.length;
        // one copy: the tables (u64, by layer, slot and sequence) first, then the ids and the lengths
        long tableBytes = 8L * 2 * norms.length * sequences;
        long bytes = tableBytes + 4L * (rows + sequences);
        cuda.synchronizeStream(); // the previous call's upload may still be reading the staging memory
        MemorySegment host = pinnedInputs.get(bytes);
        int maxLength = 0;
        for (int b = 0; b < sequences; b++) {
            host.setAtIndex(ValueLayout.JAVA_INT, tableBytes / 4 + rows + b, states[b].length());
            maxLength = Math.max(maxLength, states[b].length());
            for (int layer = 0; layer < norms.length; layer++) {
                for (int slot = 0; slot < 2; slot++) {
                    host.setAtIndex(ValueLayout.JAVA_LONG, (2L * layer + slot) * sequences + b, states[b].buffers[layer][slot]);
                }
            }
        }
        MemorySegment.copy(ids, 0, host, ValueLayout.JAVA_INT, tableBytes, rows);
        long dev = device.workspace.get("step.inputs", bytes);
        cuda.uploadAsync(dev, host, bytes);
        return new CudaStep(sequences, len, dev + tableBytes, dev + tableBytes + 4L * rows, dev, maxLength, states);
    }

    /** Queues the blocks over the step's tokens; returns the residual stream [rows, hidden] after the last block. */
    private long blocks(CudaStep step) {
        int rows = step.rows(), h = config.hiddenSize;
        Workspace ws = device.workspace;
        long x = ws.get("residual", 4L * rows * h);
        long normed = ws.get("normed", 4L * rows * h);
        device.kernels.embed(rows, 256, embeddings.weight(), step.ids(), x, h);
        for (int layer = 0; layer < mixers.length; layer++) {
            device.kernels.rmsNorm(rows, 1, NORM_THREADS, x, norms[layer], normed, h, h, eps);
            mixers[layer].forward(device, step, layer, normed, x);
        }
        return x;
    }

    /** Queues norm_f and the LM head over rows [first, first + count) of the residual stream; returns the logits' buffer. */
    private long head(long x, int first, int count) {
        int h = config.hiddenSize, v = config.vocabSize;
        long normed = device.workspace.get("normed", 4L * count * h);
        device.kernels.rmsNorm(count, 1, NORM_THREADS, x + 4L * first * h, normF, normed, h, h, eps);
        long logits = device.workspace.get("logits", 4L * count * v);
        lmHead.forward(device, normed, count, logits, false, false);
        return logits;
    }

    private void checkIds(int[] ids) {
        for (int t = 0; t < ids.length; t++) {
            if (ids[t] < 0 || ids[t] >= config.vocabSize) {
                throw new IllegalArgumentException("token id " + ids[t] + " at position " + t
                        + " is outside the vocabulary [0, " + config.vocabSize + ")");
            }
        }
    }

    private static CudaState gpuState(SequenceState state) {
        if (state instanceof CudaState s) {
            if (s.released()) throw new IllegalStateException("the sequence state was released");
            return s;
        }
        throw new IllegalArgumentException("a " + state.getClass().getSimpleName() + " belongs to another backend");
    }

    @Override
    public void close() {
        cuda.makeCurrent();
        cuda.synchronize();
        for (DecodeGraph g : graphs.values()) cuda.destroyGraph(g.exec);
        graphs.clear();
        embeddings.free(cuda);
        lmHead.free(cuda);
        for (long p : norms) cuda.free(p);
        for (CudaMixer m : mixers) m.free(cuda);
        cuda.free(normF);
        pinnedInputs.free();
        pinnedLogits.free();
        device.close();
        sampler.free();
        for (MemorySegment e : marks) cuda.destroyEvent(e);
        device.workspace.close();
    }
}
