package dev.nemoh.cuda;

import dev.nemoh.config.BlockWeights;
import dev.nemoh.config.LinearSpec;
import dev.nemoh.config.NemotronHConfig;
import dev.nemoh.config.TensorSpec;
import dev.nemoh.config.WeightSchema;
import dev.nemoh.io.Checkpoint;
import dev.nemoh.tensor.Tensor;
import dev.nemoh.config.LoraConfig;
import dev.nemoh.train.Optimizer;
import dev.nemoh.train.Parameter;
import dev.nemoh.train.TrainableModel;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * NemotronHForCausalLM trained on the GPU, the twin of {@code train.DifferentiableModel}: the same parameters (the
 * host {@link Parameter}s of a CPU model, full fine-tuning or LoRA/DoRA, which keep the names, checkpoints and
 * exports), computed on the device. A sequence goes forward block by block keeping each block's activations, through
 * the final norm and, a chunk of target rows at a time, the LM head and cross-entropy with its gradient; then
 * backward block by block. Blocks can be recomputed: their forward runs again just before their backward, so only
 * the residual stream at each block's input is kept.
 */
public final class CudaTrainableModel implements TrainableModel {
    /** Logits computed at once by the loss: [rows, vocab] floats at most this many. */
    static final int LOGIT_FLOATS = 1 << 26;
    private static final int THREADS = 256;

    private record Layer(CudaParameters.Tensor norm, CudaTrainableMixer mixer) {}

    private final TrainableModel host;
    private final NemotronHConfig config;
    private final CudaTraining t;
    private final CudaParameters params;
    private final List<Layer> layers = new ArrayList<>();
    private final CudaParameters.Tensor normF;
    /** the embedding table: float32 (trained, or fp32 precision) or bf16 */
    private final long embeddings;
    private final boolean embeddingsBf16;
    private final CudaParameters.Tensor trainedEmbeddings;
    private final CudaProjection lmHead;
    private final List<CudaProjection> projections = new ArrayList<>();
    private final List<Long> frozen = new ArrayList<>();
    /** Sequences at least this long recompute each block's forward before its backward. */
    private final int recomputeFrom;
    /** whether adapters train (not every weight) */
    private final boolean adapters;

    /**
     * The GPU model of the checkpoint in {@code dir} training the parameters of {@code host}, a CPU model of the same
     * checkpoint: every weight's float32 master when {@code lora} is null (their names are the checkpoint's), else
     * the adapters of {@code lora} (PEFT's names). The host keeps the parameters' names, checkpoints and exports.
     */
    public CudaTrainableModel(Path dir, TrainableModel host, LoraConfig lora, TrainingPrecision precision,
                              int recomputeFrom) {
        if (recomputeFrom < 1) throw new IllegalArgumentException("--recompute-from must be >= 1, got " + recomputeFrom);
        List<Parameter> parameters = host.parameters();
        this.host = host;
        this.config = NemotronHConfig.load(dir);
        this.recomputeFrom = recomputeFrom;
        this.adapters = lora != null;
        Cuda cuda = Cuda.get();
        // the weights as bf16, the least any precision keeps on the device; the rest is checked as it is allocated
        cuda.memory.require(GpuMemory.Part.WEIGHTS, 2L * config.paramCount(), "the weights");
        this.t = new CudaTraining(new CudaDevice(cuda), precision);
        this.params = new CudaParameters(cuda, parameters);
        Map<String, Parameter> byName = new HashMap<>();
        for (Parameter p : parameters) byName.put(p.name, p);
        WeightSchema schema = WeightSchema.of(config);
        try (Checkpoint ckpt = Checkpoint.open(dir)) {
            Builder b = new Builder(ckpt, byName, lora);
            trainedEmbeddings = b.trained(schema.embeddings);
            if (trainedEmbeddings != null) {
                embeddings = trainedEmbeddings.value();
                embeddingsBf16 = false;
            } else {
                embeddingsBf16 = precision.bf16();
                embeddings = b.frozenMatrix(schema.embeddings);
            }
            for (WeightSchema.Layer layer : schema.layers) {
                CudaTrainableMixer mixer = switch (layer.mixer()) {
                    case BlockWeights.Mamba2 m -> new CudaTrainableMamba2Mixer(t, config, b.linear(m.inProj()),
                            b.linear(m.outProj()), b.vector(m.convWeight()), b.vector(m.convBias()), b.vector(m.dtBias()),
                            b.vector(m.aLog()), b.vector(m.d()), b.vector(m.norm()));
                    case BlockWeights.Attention a -> new CudaTrainableAttentionMixer(config, b.linear(a.qProj()),
                            b.linear(a.kProj()), b.linear(a.vProj()), b.linear(a.oProj()));
                    case BlockWeights.Mlp m -> b.mlp(m);
                    case BlockWeights.Moe m -> new CudaTrainableMoeMixer(config, b.linear(m.gate(), true),
                            b.vector(m.correctionBias()).value(),
                            m.experts().stream().map(b::mlp).toList(), b.mlp(m.sharedExpert()),
                            m.latentIn() != null ? b.linear(m.latentIn()) : null,
                            m.latentOut() != null ? b.linear(m.latentOut()) : null);
                };
                layers.add(new Layer(b.vector(layer.norm()), mixer));
            }
            normF = b.vector(schema.normF);
            boolean tied = ckpt.find(schema.lmHead.weight()) == null;
            if (!tied) {
                lmHead = b.linear(schema.lmHead);
            } else if (trainedEmbeddings != null) {
                lmHead = CudaDenseProjection.trained(t, config.vocabSize, config.hiddenSize, trainedEmbeddings, null, false);
            } else {
                lmHead = CudaDenseProjection.frozen(config.vocabSize, config.hiddenSize,
                        embeddingsBf16 == precision.bf16() ? embeddings : b.frozenMatrix(schema.embeddings), null, false);
            }
            projections.add(lmHead);
            for (Layer l : layers) projections.addAll(l.mixer.projections());
            List<String> unused = new ArrayList<>(byName.keySet());
            unused.removeAll(b.used);
            if (!unused.isEmpty()) {
                throw new IllegalArgumentException("parameters " + unused + " have no place in the GPU model of " + dir);
            }
        }
    }

    /** Places each tensor of the schema on the device: trained from its parameter, or frozen from the checkpoint. */
    private final class Builder {
        final Checkpoint ckpt;
        final Map<String, Parameter> byName;
        final LoraConfig lora;
        final List<String> used = new ArrayList<>();

        Builder(Checkpoint ckpt, Map<String, Parameter> byName, LoraConfig lora) {
            this.ckpt = ckpt;
            this.byName = byName;
            this.lora = lora;
        }

        CudaParameters.Tensor trained(TensorSpec spec) {
            Parameter p = byName.get(spec.name());
            if (p == null) return null;
            used.add(p.name);
            return params.of(p);
        }

        /** A 1-D (or small) float32 tensor: trained, or frozen (zeros when the checkpoint may and does lack it). */
        CudaParameters.Tensor vector(TensorSpec spec) {
            CudaParameters.Tensor p = trained(spec);
            if (p != null) return p;
            Tensor tensor = ckpt.find(spec);
            float[] values = tensor == null ? new float[(int) spec.numel()] : tensor.toFloatArray();
            long ptr = t.uploadFloats(values);
            frozen.add(ptr);
            return CudaParameters.Tensor.frozen(ptr, values.length);
        }

        long frozenMatrix(TensorSpec spec) {
            return frozenMatrix(spec, t.precision.bf16());
        }

        long frozenMatrix(TensorSpec spec, boolean bf16) {
            long ptr = t.upload(ckpt.get(spec), bf16);
            frozen.add(ptr);
            return ptr;
        }

        CudaProjection linear(LinearSpec spec) {
            return linear(spec, false);
        }

        CudaTrainableMlpMixer mlp(BlockWeights.Mlp m) {
            return new CudaTrainableMlpMixer(linear(m.upProj()), linear(m.downProj()));
        }

        /** A linear layer; {@code float32}: its products stay float32 whatever the precision. */
        CudaProjection linear(LinearSpec spec, boolean float32) {
            CudaParameters.Tensor bias = ckpt.find(spec.bias()) != null || byName.containsKey(spec.bias().name())
                    ? vector(spec.bias()) : null;
            CudaParameters.Tensor master = trained(spec.weight());
            if (master != null) return CudaDenseProjection.trained(t, spec.out(), spec.in(), master, bias, float32);
            long weight = frozenMatrix(spec.weight(), !float32 && t.precision.bf16());
            if (lora == null || !lora.targetModules().contains(spec.module())) {
                return CudaDenseProjection.frozen(spec.out(), spec.in(), weight, bias, float32);
            }
            String module = WeightSchema.modulePath(spec.prefix());
            CudaParameters.Tensor a = adapter(module + ".lora_A.weight"), b = adapter(module + ".lora_B.weight");
            CudaParameters.Tensor m = lora.useDora() ? adapter(module + ".lora_magnitude_vector") : null;
            if (lora.dropout() > 0) {
                throw new CudaException("LoRA dropout does not run on cuda yet; use --dropout 0 or --device cpu");
            }
            return new CudaLoraProjection(t, module, spec.out(), spec.in(), weight, bias, a, b, m, lora.scaling());
        }

        private CudaParameters.Tensor adapter(String name) {
            Parameter p = byName.get(name);
            if (p == null) throw new IllegalArgumentException("adapter parameter " + name + " is missing");
            used.add(name);
            return params.of(p);
        }
    }

    public NemotronHConfig config() {
        return config;
    }

    @Override
    public List<Parameter> parameters() {
        return params.parameters;
    }

    @Override
    public Map<String, Object> fingerprint() {
        return host.fingerprint();
    }

    @Override
    public String device() {
        return "cuda " + t.precision.name().toLowerCase(java.util.Locale.ROOT) + " (" + t.cuda.deviceName + ")";
    }

    /**
     * What to lower when training does not fit in GPU memory: the tokens of a step, the length from which blocks are
     * recomputed, and (for full fine-tuning) the trained weights.
     */
    public static String outOfMemoryAdvice(boolean adapters, int recomputeFrom) {
        return "train shorter sequences (finetune --max-len, train-bench --seq-len; rows run one at a time), or lower "
                + "--recompute-from (now " + recomputeFrom + ") so that shorter sequences keep only each block's input"
                + (adapters ? "" : ", or train adapters (finetune --peft lora, train-bench --lora-r) instead of every weight");
    }

    private String outOfMemoryAdvice() {
        return outOfMemoryAdvice(adapters, recomputeFrom);
    }

    /** An AdamW over the device's parameter buffers. */
    @Override
    public Optimizer optimizer(double beta1, double beta2, double eps, double weightDecay) {
        try {
            return new CudaAdamW(t, params, beta1, beta2, eps, weightDecay);
        } catch (CudaException e) {
            throw e.advising(outOfMemoryAdvice());
        }
    }

    @Override
    public LossSum lossAndBackward(int[][] inputIds, int[][] labels, double normalizer) {
        if (!(normalizer > 0)) throw new IllegalArgumentException("the loss normalizer must be positive, got " + normalizer);
        return run(inputIds, labels, normalizer, true);
    }

    @Override
    public LossSum loss(int[][] inputIds, int[][] labels) {
        return run(inputIds, labels, 1, false);
    }

    @Override
    public void setTraining(boolean training) {
        // no dropout on the GPU path yet (refused when asked for)
    }

    /** After the optimizer changed the master weights: refresh what derives from them. */
    @Override
    public void afterStep() {
        for (CudaProjection p : projections) p.refresh(t);
    }

    /** Device values into the host parameters (before a checkpoint or an export). */
    @Override
    public void pullParameters() {
        params.pull();
    }

    /** Host parameter values to the device (after a checkpoint was restored into them). */
    @Override
    public void pushParameters() {
        params.push();
        afterStep();
    }

    /** The accumulated gradients into the host parameters' {@code grad} (for checks against the CPU path). */
    public void pullGradients() {
        params.pullGradients();
    }

    public void zeroGradients() {
        params.zeroGradients();
    }

    private LossSum run(int[][] ids, int[][] labels, double normalizer, boolean backward) {
        if (ids.length != labels.length) {
            throw new IllegalArgumentException(ids.length + " rows of input ids but " + labels.length + " rows of labels");
        }
        double sum = 0;
        long targets = 0;
        for (int row = 0; row < ids.length; row++) {
            validate(ids[row], labels[row], row);
            LossSum s;
            try {
                s = sequence(ids[row], labels[row], normalizer, backward);
            } catch (CudaException e) {
                throw e.advising(outOfMemoryAdvice());
            }
            sum += s.sum();
            targets += s.targets();
        }
        return new LossSum(sum, targets);
    }

    private void validate(int[] ids, int[] labels, int row) {
        if (ids.length == 0) throw new IllegalArgumentException("row " + row + " has no input tokens");
        if (ids.length != labels.length) {
            throw new IllegalArgumentException("row " + row + ": " + ids.length + " input ids but " + labels.length
                    + " labels; give one label per token (-100 to ignore it)");
        }
        int v = config.vocabSize;
        for (int i = 0; i < ids.length; i++) {
            if (ids[i] < 0 || ids[i] >= v) {
                throw new IllegalArgumentException("token id " + ids[i] + " at row " + row + ", position " + i
                        + " is outside the vocabulary [0, " + v + ")");
            }
            if (labels[i] != -100 && (labels[i] < 0 || labels[i] >= v)) {
                throw new IllegalArgumentException("label " + labels[i] + " at row " + row + ", position " + i
                        + " is outside the vocabulary [0, " + v + ") and is not -100 (ignored)");
            }
        }
    }

    /** The key of layer i's saved activations: its own, or the one shared by recomputed blocks. */
    private static String key(int layer, boolean keep) {
        return keep ? "L" + layer : "R";
    }

    private LossSum sequence(int[] ids, int[] labels, double normalizer, boolean backward) {
        int len = ids.length, h = config.hiddenSize, v = config.vocabSize;
        boolean keep = backward && len < recomputeFrom;
        CudaKernels k = t.k;
        long idBuf = t.device.workspace.get("model.ids", 4L * len);
        t.cuda.upload(idBuf, ids);
        long x = t.floats("model.x", (long) len * h);
        if (embeddingsBf16) k.embed(len, THREADS, embeddings, idBuf, x, h);
        else k.embedF32(len, 1, THREADS, embeddings, idBuf, x, h);
        long out = t.floats("model.out", (long) len * h);
        for (int i = 0; i < layers.size(); i++) {
            long in = t.floats("model.in." + i, (long) len * h);
            t.cuda.copy(in, x, 4L * len * h);
            blockForward(i, key(i, keep), in, len, out);
            t.axpy(1f, out, x, (long) len * h, true);
        }
        long normedF = t.floats("model.normedF", (long) len * h), rstdF = t.floats("model.rstdF", len);
        k.rmsNormTrain(len, 1, THREADS, x, normF.value(), normedF, rstdF, h, h, (float) config.layerNormEpsilon);

        // positions with a target; each predicts the next label
        int[] positions = new int[len], targetIds = new int[len];
        int n = 0;
        for (int p = 0; p + 1 < len; p++) {
            if (labels[p + 1] != -100) {
                positions[n] = p;
                targetIds[n++] = labels[p + 1];
            }
        }
        long dNormedF = backward ? t.floats("model.dNormedF", (long) len * h) : 0;
        if (backward) t.cuda.zero(dNormedF, 4L * len * h);
        double sum = 0;
        if (n > 0) {
            long pos = t.device.workspace.get("model.positions", 4L * n), tgt = t.device.workspace.get("model.targets", 4L * n);
            t.cuda.upload(pos, java.util.Arrays.copyOf(positions, n));
            t.cuda.upload(tgt, java.util.Arrays.copyOf(targetIds, n));
            long rowsH = t.floats("model.targetRows", (long) n * h);
            k.gatherRows(n, THREADS, normedF, pos, rowsH, h);
            long dRows = backward ? t.floats("model.dTargetRows", (long) n * h) : 0;
            long losses = t.floats("model.losses", n);
            int chunk = Math.max(1, LOGIT_FLOATS / v);
            long logits = t.floats("model.logits", (long) Math.min(chunk, n) * v);
            for (int c0 = 0; c0 < n; c0 += chunk) {
                int rows = Math.min(chunk, n - c0);
                long hc = rowsH + 4L * c0 * h;
                lmHead.forward(t, hc, rows, logits);
                k.crossEntropy(rows, 1, 1024, logits, tgt + 4L * c0, v, (float) (1 / normalizer), losses + 4L * c0);
                if (backward) lmHead.backward(t, hc, logits, rows, dRows + 4L * c0 * h, false);
            }
            for (float l : t.cuda.downloadFloats(losses, n)) sum += l;
            if (backward) k.scatterRows(n, THREADS, dRows, pos, dNormedF, h);
        }
        if (!backward) return new LossSum(sum, n);

        long dx = t.floats("model.dx", (long) len * h), dwRows = t.floats("model.dwRows", (long) len * h);
        k.rmsNormBackward(len, 1, THREADS, dNormedF, x, normF.value(), rstdF, dx, normF.trains() ? dwRows : 0, h, h, 0);
        if (normF.trains()) t.addColumnSums(dwRows, len, h, normF.grad());
        long dMixerIn = t.floats("model.dMixerIn", (long) len * h);
        for (int i = layers.size() - 1; i >= 0; i--) {
            Layer layer = layers.get(i);
            long in = t.floats("model.in." + i, (long) len * h);
            String key = key(i, keep);
            if (!keep) blockForward(i, key, in, len, out);
            long normed = t.floats(key + ".normed", (long) len * h), rstd = t.floats(key + ".rstd", len);
            layer.mixer.backward(t, key, normed, dx, len, dMixerIn);
            k.rmsNormBackward(len, 1, THREADS, dMixerIn, in, layer.norm.value(), rstd, dx,
                    layer.norm.trains() ? dwRows : 0, h, h, 1);
            if (layer.norm.trains()) t.addColumnSums(dwRows, len, h, layer.norm.grad());
        }
        if (trainedEmbeddings != null) {
            k.embedBackward((h + THREADS - 1) / THREADS, 1, THREADS, dx, idBuf, len, h, trainedEmbeddings.grad());
        }
        return new LossSum(sum, n);
    }

    /** Block i's forward from its input: out = mixer(norm(in)), the normed input and its 1/rms kept under key. */
    private void blockForward(int i, String key, long in, int len, long out) {
        int h = config.hiddenSize;
        Layer layer = layers.get(i);
        long normed = t.floats(key + ".normed", (long) len * h), rstd = t.floats(key + ".rstd", len);
        t.k.rmsNormTrain(len, 1, THREADS, in, layer.norm.value(), normed, rstd, h, h, (float) config.layerNormEpsilon);
        layer.mixer.forward(t, key, normed, len, out);
    }

    /** Times every kernel and product while {@code profiler} is not null (train-bench --profile). */
    public void profile(Profiler profiler) {
        t.k.profiler = profiler;
        t.device.blas.profiler = profiler;
    }

    /** Frees the device memory the model holds. */
    public void close() {
        params.free();
        for (long p : frozen) t.cuda.free(p);
        t.device.close();
    }

    /** The precision the model computes in. */
    public TrainingPrecision precision() {
        return t.precision;
    }
}
