package dev.nemoh.train;

import dev.nemoh.config.BlockWeights;
import dev.nemoh.config.LinearSpec;
import dev.nemoh.config.NemotronHConfig;
import dev.nemoh.config.TensorSpec;
import dev.nemoh.config.WeightSchema;
import dev.nemoh.kernels.DenseWeights;
import dev.nemoh.kernels.FloatWeights;
import dev.nemoh.kernels.WeightMatrix;
import dev.nemoh.io.Checkpoint;
import dev.nemoh.model.RmsNorm;
import dev.nemoh.tensor.Tensor;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * NemotronHForCausalLM with a backward pass: the training forward of each block, the causal-LM cross-entropy and the
 * gradients, layer by layer in reverse, in the spirit of llm.c. Sequences run one at a time; gradients add up over
 * them. When the base trains, every weight is a float32 master copy (read from bf16 or whatever the checkpoint
 * stores) with its gradient; when it is frozen (under adapters), the matrices (embeddings, linear layers, lm_head)
 * stay as stored in the mapped checkpoint, read in place by the matmuls, and only the small 1-D tensors (norms,
 * conv, time-step and SSM parameters) are copied to float32.
 */
final class DifferentiableModel {
    /** Makes the layer for one of the adaptable linear layers (in_proj, q_proj...) from its frozen or trainable weights. */
    interface Projections {
        Projection create(LinearSpec spec, WeightMatrix weight, Parameter bias);
    }

    /**
     * Rows of logits (and their gradient) computed at once by the loss: [rows, vocab] floats stay near 16M (64 MB)
     * for a 131K vocabulary, instead of a whole sequence's.
     */
    static final int LOGIT_FLOATS = 1 << 24;

    private record Layer(RmsNorm norm, Parameter normWeight, TrainableMixer mixer) {}

    final NemotronHConfig config;
    final Path dir;
    /**
     * The float32 copies of checkpoint tensors, by checkpoint name, in checkpoint order of the layers: every tensor
     * the forward uses when the base trains, the 1-D ones when it is frozen.
     */
    final Map<String, Parameter> weights = new LinkedHashMap<>();
    private final boolean trainBase;
    /** the trained embeddings, or null when the base is frozen */
    private final Parameter embeddings;
    /** the embeddings as the lookup reads them: over the trained values, or as stored */
    private final WeightMatrix embeddingTable;
    private final List<Layer> layers = new ArrayList<>();
    private final RmsNorm normF;
    private final Parameter normFWeight;
    private final Projection lmHead;

    private float[][] layerInputs;
    private float[] finalInput;

    private DifferentiableModel(NemotronHConfig config, Path dir, Checkpoint ckpt, boolean trainBase, Projections projections) {
        this.config = config;
        this.dir = dir;
        this.trainBase = trainBase;
        WeightSchema schema = WeightSchema.of(config);
        embeddings = trainBase ? load(ckpt, schema.embeddings) : null;
        embeddingTable = matrix(ckpt, embeddings, schema.embeddings);
        for (WeightSchema.Layer layer : schema.layers) {
            Parameter normWeight = load(ckpt, layer.norm());
            TrainableMixer mixer = switch (layer.mixer()) {
                case BlockWeights.Mamba2 m -> mamba(ckpt, m, projections);
                case BlockWeights.Attention a -> new TrainableAttentionMixer(config, linear(ckpt, a.qProj(), projections),
                        linear(ckpt, a.kProj(), projections), linear(ckpt, a.vProj(), projections),
                        linear(ckpt, a.oProj(), projections));
                case BlockWeights.Mlp m -> mlp(ckpt, m, projections);
                case BlockWeights.Moe m -> moe(ckpt, m, projections);
            };
            layers.add(new Layer(new RmsNorm(normWeight.value, config.layerNormEpsilon, 1), normWeight, mixer));
        }
        normFWeight = load(ckpt, schema.normF);
        normF = new RmsNorm(normFWeight.value, config.layerNormEpsilon, 1);
        // as transformers: a stored lm_head is used even when tie_word_embeddings is set
        boolean tied = ckpt.find(schema.lmHead.weight()) == null;
        lmHead = tied ? dense(embeddings, embeddingTable, null) : linear(ckpt, schema.lmHead, null);
    }

    /** Every weight trains, from float32 master copies; the checkpoint is closed once they are read. */
    static DifferentiableModel trainAll(Path dir) {
        NemotronHConfig config = NemotronHConfig.load(dir);
        try (Checkpoint ckpt = Checkpoint.open(dir)) {
            return new DifferentiableModel(config, dir, ckpt, true, null);
        }
    }

    /**
     * The base frozen as stored, with {@code projections} making the adaptable linear layers. The checkpoint stays
     * mapped for the model's life, as the inference model's does.
     */
    static DifferentiableModel frozen(Path dir, Projections projections) {
        NemotronHConfig config = NemotronHConfig.load(dir);
        Checkpoint ckpt = Checkpoint.open(dir);
        try {
            return new DifferentiableModel(config, dir, ckpt, false, projections);
        } catch (RuntimeException e) {
            ckpt.close();
            throw e;
        }
    }

    private Parameter load(Checkpoint ckpt, TensorSpec spec) {
        Tensor t = ckpt.get(spec);
        int[] dims = Arrays.stream(spec.shape()).mapToInt(Math::toIntExact).toArray();
        Parameter p = new Parameter(spec.name(), dims, t.toFloatArray());
        weights.put(spec.name(), p);
        return p;
    }

    /** A matrix as the forward reads it: the trained parameter's values, or the checkpoint's tensor as stored. */
    private WeightMatrix matrix(Checkpoint ckpt, Parameter trained, TensorSpec spec) {
        int rows = spec.dim(0), cols = spec.dim(1);
        return trained != null ? new FloatWeights(spec.name(), trained.value, rows, cols) : new DenseWeights(ckpt.get(spec), rows, cols);
    }

    private static DenseProjection dense(Parameter trained, WeightMatrix w, Parameter bias) {
        return trained != null ? new DenseProjection(trained, bias, true) : new DenseProjection(w, bias);
    }

    /** A linear layer: trained, frozen, or (frozen and adaptable) what {@code projections} makes of it. */
    private Projection linear(Checkpoint ckpt, LinearSpec spec, Projections projections) {
        Parameter trained = trainBase ? load(ckpt, spec.weight()) : null;
        Parameter b = ckpt.find(spec.bias()) != null ? load(ckpt, spec.bias()) : null;
        WeightMatrix w = matrix(ckpt, trained, spec.weight());
        boolean adaptable = projections != null && BlockWeights.ADAPTABLE_MODULES.contains(spec.module());
        return trainBase || !adaptable ? dense(trained, w, b) : projections.create(spec, w, b);
    }

    private TrainableMamba2Mixer mamba(Checkpoint ckpt, BlockWeights.Mamba2 m, Projections projections) {
        TensorSpec bias = m.convBias();
        Parameter convBias = ckpt.find(bias) != null
                ? load(ckpt, bias)
                : new Parameter(bias.name(), new int[] {bias.dim(0)}, new float[bias.dim(0)]); // not a weight: never trained
        return new TrainableMamba2Mixer(config, linear(ckpt, m.inProj(), projections), linear(ckpt, m.outProj(), projections),
                load(ckpt, m.convWeight()), convBias, load(ckpt, m.dtBias()), load(ckpt, m.aLog()), load(ckpt, m.d()),
                load(ckpt, m.norm()));
    }

    private TrainableMlpMixer mlp(Checkpoint ckpt, BlockWeights.Mlp m, Projections projections) {
        return new TrainableMlpMixer(linear(ckpt, m.upProj(), projections), linear(ckpt, m.downProj(), projections));
    }

    private TrainableMoeMixer moe(Checkpoint ckpt, BlockWeights.Moe m, Projections projections) {
        TrainableMlpMixer[] experts = m.experts().stream().map(e -> mlp(ckpt, e, projections)).toArray(TrainableMlpMixer[]::new);
        // a buffer, not a parameter, in transformers: it steers the choice of experts and never trains
        float[] bias = ckpt.floats(m.correctionBias(), new float[config.nRoutedExperts]);
        return new TrainableMoeMixer(config, linear(ckpt, m.gate(), projections), bias, experts, mlp(ckpt, m.sharedExpert(), projections),
                m.latentIn() != null ? linear(ckpt, m.latentIn(), projections) : null,
                m.latentOut() != null ? linear(ckpt, m.latentOut(), projections) : null);
    }

    /** The base weights that train under full fine-tuning, each once (a tied lm_head is the embedding matrix). */
    List<Parameter> baseParameters() {
        return Collections.unmodifiableList(new ArrayList<>(weights.values()));
    }

    /** Logits [len, vocab] of one sequence; the activations stay for {@link #backward}. */
    float[] forward(int[] ids) {
        return lmHead.forward(hidden(ids), ids.length);
    }

    /** The normalised final hidden states [len, hidden] of one sequence; the activations stay for {@link #backward}. */
    private float[] hidden(int[] ids) {
        int len = ids.length, h = config.hiddenSize;
        if (len == 0) throw new IllegalArgumentException("no input tokens");
        for (int t = 0; t < len; t++) {
            if (ids[t] < 0 || ids[t] >= config.vocabSize) {
                throw new IllegalArgumentException("token id " + ids[t] + " at position " + t
                        + " is outside the vocabulary [0, " + config.vocabSize + ")");
            }
        }
        float[] x = new float[len * h];
        for (int t = 0; t < len; t++) embeddingTable.widen(ids[t], 0, h, x, t * h);
        layerInputs = new float[layers.size()][];
        for (int i = 0; i < layers.size(); i++) {
            Layer layer = layers.get(i);
            layerInputs[i] = x.clone();
            float[] out = layer.mixer.forward(layer.norm.forward(x, len), len);
            for (int j = 0; j < x.length; j++) x[j] += out[j];
        }
        finalInput = x;
        return normF.forward(x, len);
    }

    /** Gradients from dL/d(normalised final hidden states) of the sequence last run through {@link #hidden}. */
    private void backward(int[] ids, float[] dNormed) {
        int len = ids.length, h = config.hiddenSize;
        float[] dx = new float[len * h];
        normF.backward(dNormed, finalInput, len, dx, trainBase ? normFWeight.grad : null);
        for (int i = layers.size() - 1; i >= 0; i--) {
            Layer layer = layers.get(i);
            float[] dMixerIn = layer.mixer.backward(dx, len);
            layer.norm.backward(dMixerIn, layerInputs[i], len, dx, trainBase ? layer.normWeight.grad : null);
        }
        if (trainBase) {
            for (int t = 0; t < len; t++) {
                for (int j = 0; j < h; j++) embeddings.grad[ids[t] * h + j] += dx[t * h + j];
            }
        }
    }

    /**
     * Cross-entropy of rows of ids against labels (position t predicts {@code labels[t + 1]}, −100 ignored), with
     * the gradient of {@code sum / normalizer} when {@code backward} is set.
     */
    TrainableModel.LossSum run(int[][] ids, int[][] labels, double normalizer, boolean backward) {
        validate(ids, labels);
        if (backward && !(normalizer > 0)) {
            throw new IllegalArgumentException("the loss normalizer must be positive, got " + normalizer);
        }
        double sum = 0;
        long targets = 0;
        int v = config.vocabSize, h = config.hiddenSize;
        int chunk = Math.max(1, LOGIT_FLOATS / v);
        for (int row = 0; row < ids.length; row++) {
            int len = ids[row].length;
            float[] normed = hidden(ids[row]);
            float[] dNormed = backward ? new float[len * h] : null;
            // only positions with a target get logits, a chunk of them at a time, each chunk's lm_head backward
            // right after its loss
            int[] positions = new int[len];
            int n = 0;
            for (int t = 0; t + 1 < len; t++) if (labels[row][t + 1] != -100) positions[n++] = t;
            for (int c0 = 0; c0 < n; c0 += chunk) {
                int rows = Math.min(chunk, n - c0);
                float[] x = new float[rows * h];
                for (int i = 0; i < rows; i++) System.arraycopy(normed, positions[c0 + i] * h, x, i * h, h);
                float[] logits = lmHead.forward(x, rows);
                float[] dLogits = backward ? new float[logits.length] : null;
                for (int i = 0; i < rows; i++) {
                    sum += crossEntropy(logits, i * v, v, labels[row][positions[c0 + i] + 1], dLogits, 1 / normalizer);
                }
                targets += rows;
                if (!backward) continue;
                float[] dx = lmHead.backward(dLogits, rows);
                for (int i = 0; i < rows; i++) System.arraycopy(dx, i * h, dNormed, positions[c0 + i] * h, h);
            }
            if (backward) backward(ids[row], dNormed);
        }
        return new TrainableModel.LossSum(sum, targets);
    }

    /** −log softmax(z)[target] for the row at {@code off}; adds {@code scale · (softmax − onehot)} to grad if given. */
    static double crossEntropy(float[] z, int off, int n, int target, float[] grad, double scale) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) max = Math.max(max, z[off + i]);
        double sum = 0;
        for (int i = 0; i < n; i++) sum += Math.exp(z[off + i] - max);
        double logSum = max + Math.log(sum);
        if (grad != null) {
            for (int i = 0; i < n; i++) grad[off + i] += (float) (scale * Math.exp(z[off + i] - logSum));
            grad[off + target] -= (float) scale;
        }
        return logSum - z[off + target];
    }

    private void validate(int[][] ids, int[][] labels) {
        if (ids.length != labels.length) {
            throw new IllegalArgumentException(ids.length + " rows of input ids but " + labels.length + " rows of labels");
        }
        int v = config.vocabSize;
        for (int row = 0; row < ids.length; row++) {
            if (ids[row].length != labels[row].length) {
                throw new IllegalArgumentException("row " + row + ": " + ids[row].length + " input ids but "
                        + labels[row].length + " labels; give one label per token (-100 to ignore it)");
            }
            for (int t = 0; t < labels[row].length; t++) {
                int label = labels[row][t];
                if (label != -100 && (label < 0 || label >= v)) {
                    throw new IllegalArgumentException("label " + label + " at row " + row + ", position " + t
                            + " is outside the vocabulary [0, " + v + ") and is not -100 (ignored)");
                }
            }
        }
    }
}
