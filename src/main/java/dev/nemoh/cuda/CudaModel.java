package dev.nemoh.cuda;

import dev.nemoh.config.LayerType;
import dev.nemoh.config.NemotronHConfig;
import dev.nemoh.kernels.DenseWeights;
import dev.nemoh.model.AttentionMixer;
import dev.nemoh.model.Block;
import dev.nemoh.model.LanguageModel;
import dev.nemoh.model.Linear;
import dev.nemoh.model.Mamba2Mixer;
import dev.nemoh.model.MlpMixer;
import dev.nemoh.model.NemotronHModel;
import dev.nemoh.model.TimeStepClamp;
import dev.nemoh.model.WeightFormat;

import java.nio.file.Path;

/**
 * NemotronHForCausalLM on an NVIDIA GPU: the checkpoint is read through the CPU model's loader (same names, shapes
 * and checks) and its weights uploaded as bf16; activations and Mamba states are float32, KV caches bf16. Prompts
 * go through cuBLAS and the SSD chunked scan; decode steps, batched over sequences, through our GEMV and recurrent
 * kernels. Every call leaves the GPU idle when it returns (the logits are copied back).
 */
public final class CudaModel implements LanguageModel {
    /** Longest piece of a prompt run at once; longer prompts continue through the state, which is exact. */
    private static final int PIECE = 8192;

    private final NemotronHConfig config;
    private final CudaDevice device;
    private final Cuda cuda;
    private final CudaLinear embeddings;
    private final long[] norms;
    private final CudaMixer[] mixers;
    private final long normF;
    private final CudaLinear lmHead;
    private final float eps;

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
        if (c.count(LayerType.MOE) > 0) {
            throw new CudaException("mixture-of-experts blocks (E in the layer pattern) are not supported on cuda yet; use --device cpu");
        }
        this.config = c;
        this.cuda = cuda;
        this.device = new CudaDevice(cuda);
        this.eps = (float) c.layerNormEpsilon;
        embeddings = CudaLinear.upload(cuda, new Linear("backbone.embeddings", new DenseWeights(cpu.embeddings), 1f, null));
        norms = new long[c.numLayers()];
        mixers = new CudaMixer[c.numLayers()];
        for (Block b : cpu.blocks) {
            norms[b.index] = CudaMamba2Mixer.floats(cuda, b.norm.weight);
            mixers[b.index] = switch (b.mixer) {
                case Mamba2Mixer m -> new CudaMamba2Mixer(cuda, c, clamp, m);
                case AttentionMixer a -> new CudaAttentionMixer(cuda, c, a);
                case MlpMixer m -> new CudaMlpMixer(CudaLinear.upload(cuda, m.upProj), CudaLinear.upload(cuda, m.downProj));
                default -> throw new CudaException(b.type + " blocks are not supported on cuda yet; use --device cpu");
            };
        }
        normF = CudaMamba2Mixer.floats(cuda, cpu.normF.weight);
        lmHead = CudaLinear.upload(cuda, cpu.lmHead);
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
        return new CudaState(cuda, config);
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
        checkIds(ids);
        cuda.makeCurrent();
        int v = config.vocabSize;
        float[] logits = new float[allLogits ? ids.length * v : v];
        for (int start = 0; start < ids.length; start += PIECE) {
            int len = Math.min(PIECE, ids.length - start);
            int[] piece = java.util.Arrays.copyOfRange(ids, start, start + len);
            s.reserve(len);
            long x = run(piece, new CudaState[] {s}, len);
            if (allLogits) {
                System.arraycopy(head(x, 0, len), 0, logits, start * v, len * v);
            } else if (start + len == ids.length) {
                logits = head(x, len - 1, 1);
            }
            s.advance(len);
        }
        return logits;
    }

    @Override
    public float[] decodeBatch(int[] tokens, SequenceState[] states) {
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
        long x = run(tokens, s, 1);
        float[] logits = head(x, 0, tokens.length);
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
     * Runs the blocks over {@code ids}: {@code len} tokens of each of {@code states} (room for them reserved). Returns
     * the residual stream [rows, hidden] after the last block, a workspace buffer.
     */
    private long run(int[] ids, CudaState[] states, int len) {
        int sequences = states.length, rows = ids.length, h = config.hiddenSize;
        Workspace ws = device.workspace;
        int[] ints = new int[rows + sequences];
        System.arraycopy(ids, 0, ints, 0, rows);
        long[] tables = new long[2 * norms.length * sequences];
        int maxLength = 0;
        for (int b = 0; b < sequences; b++) {
            ints[rows + b] = states[b].length();
            maxLength = Math.max(maxLength, states[b].length());
            for (int layer = 0; layer < norms.length; layer++) {
                for (int slot = 0; slot < 2; slot++) tables[(2 * layer + slot) * sequences + b] = states[b].buffers[layer][slot];
            }
        }
        long intsDev = ws.get("step.ints", 4L * ints.length);
        long tablesDev = ws.get("step.tables", 8L * tables.length);
        cuda.upload(intsDev, ints);
        cuda.upload(tablesDev, tables);
        CudaStep step = new CudaStep(sequences, len, intsDev + 4L * rows, tablesDev, maxLength, states);

        long x = ws.get("residual", 4L * rows * h);
        long normed = ws.get("normed", 4L * rows * h);
        device.kernels.launch1d("embed", rows, 256, embeddings.weight(), intsDev, x, h);
        for (int layer = 0; layer < mixers.length; layer++) {
            device.kernels.launch("rms_norm", rows, 1, 1, 256, 0, x, norms[layer], normed, h, h, eps);
            mixers[layer].forward(device, step, layer, normed, x);
        }
        return x;
    }

    /** norm_f and the LM head over rows [first, first + count) of the residual stream; the logits come back to the host. */
    private float[] head(long x, int first, int count) {
        int h = config.hiddenSize, v = config.vocabSize;
        long normed = device.workspace.get("normed", 4L * count * h);
        device.kernels.launch("rms_norm", count, 1, 1, 256, 0, x + 4L * first * h, normF, normed, h, h, eps);
        long logits = device.workspace.get("logits", 4L * count * v);
        lmHead.forward(device, normed, count, logits, false, false);
        return cuda.downloadFloats(logits, count * v);
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
        if (state instanceof CudaState s) return s;
        throw new IllegalArgumentException("a " + state.getClass().getSimpleName() + " belongs to another backend");
    }

    @Override
    public void close() {
        cuda.makeCurrent();
        cuda.synchronize();
        embeddings.free(cuda);
        lmHead.free(cuda);
        for (long p : norms) cuda.free(p);
        for (CudaMixer m : mixers) m.free(cuda);
        cuda.free(normF);
        device.workspace.close();
    }
}
