package dev.nemoh.train;

import dev.nemoh.config.NemotronHConfig;
import dev.nemoh.kernels.DenseWeights;
import dev.nemoh.kernels.FloatWeights;
import dev.nemoh.kernels.WeightMatrix;
import dev.nemoh.io.Checkpoint;
import dev.nemoh.model.NemotronHModel;
import dev.nemoh.model.RmsNorm;
import dev.nemoh.tensor.Tensor;

import java.nio.file.Path;
import java.util.ArrayList;
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
        Projection create(String prefix, String module, WeightMatrix weight, Parameter bias);
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
        int h = config.hiddenSize;
        embeddings = trainBase ? load(ckpt, "backbone.embeddings.weight", config.vocabSize, h) : null;
        embeddingTable = matrix(ckpt, embeddings, "backbone.embeddings.weight", config.vocabSize, h);
        for (int i = 0; i < config.numLayers(); i++) {
            String p = "backbone.layers." + i;
            Parameter normWeight = load(ckpt, p + ".norm.weight", h);
            TrainableMixer mixer = switch (config.layers.get(i)) {
                case MAMBA -> mamba(ckpt, p + ".mixer", projections);
                case ATTENTION -> attention(ckpt, p + ".mixer", projections);
                case MLP -> mlp(ckpt, p + ".mixer", h, config.intermediateSize, projections);
                case MOE -> moe(ckpt, p + ".mixer", projections);
            };
            layers.add(new Layer(new RmsNorm(normWeight.value, config.layerNormEpsilon, 1), normWeight, mixer));
        }
        normFWeight = load(ckpt, "backbone.norm_f.weight", h);
        normF = new RmsNorm(normFWeight.value, config.layerNormEpsilon, 1);
        // as transformers: a stored lm_head is used even when tie_word_embeddings is set
        boolean tied = !ckpt.has("lm_head.weight") && config.tieWordEmbeddings;
        lmHead = tied ? dense(embeddings, embeddingTable, null) : linear(ckpt, "lm_head", null, config.vocabSize, h, null);
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

    private Parameter load(Checkpoint ckpt, String name, long... shape) {
        Tensor t = ckpt.get(name, shape);
        int[] dims = new int[shape.length];
        for (int i = 0; i < shape.length; i++) dims[i] = Math.toIntExact(shape[i]);
        Parameter p = new Parameter(name, dims, t.toFloatArray());
        weights.put(name, p);
        return p;
    }

    /** A matrix as the forward reads it: the trained parameter's values, or the checkpoint's tensor as stored. */
    private WeightMatrix matrix(Checkpoint ckpt, Parameter trained, String name, int rows, int cols) {
        return trained != null ? new FloatWeights(name, trained.value, rows, cols) : new DenseWeights(ckpt.get(name, rows, cols), rows, cols);
    }

    private static DenseProjection dense(Parameter trained, WeightMatrix w, Parameter bias) {
        return trained != null ? new DenseProjection(trained, bias, true) : new DenseProjection(w, bias);
    }

    /** A linear layer: trained, frozen, or (frozen with a {@code module} name) what {@code projections} makes of it. */
    private Projection linear(Checkpoint ckpt, String prefix, String module, int out, int in, Projections projections) {
        Parameter trained = trainBase ? load(ckpt, prefix + ".weight", out, in) : null;
        Parameter b = ckpt.has(prefix + ".bias") ? load(ckpt, prefix + ".bias", out) : null;
        WeightMatrix w = matrix(ckpt, trained, prefix + ".weight", out, in);
        return trainBase || module == null ? dense(trained, w, b) : projections.create(prefix, module, w, b);
    }

    private TrainableMamba2Mixer mamba(Checkpoint ckpt, String p, Projections projections) {
        NemotronHConfig c = config;
        int conv = c.convDim();
        Parameter convBias = NemotronHModel.hasConvBias(c, ckpt, p)
                ? load(ckpt, p + ".conv1d.bias", conv)
                : new Parameter(p + ".conv1d.bias", new int[] {conv}, new float[conv]); // not a weight: never trained
        return new TrainableMamba2Mixer(c,
                linear(ckpt, p + ".in_proj", "in_proj", c.inProjSize(), c.hiddenSize, projections),
                linear(ckpt, p + ".out_proj", "out_proj", c.hiddenSize, c.mambaIntermediateSize(), projections),
                load(ckpt, p + ".conv1d.weight", conv, 1, c.convKernel),
                convBias,
                load(ckpt, p + ".dt_bias", c.mambaNumHeads),
                load(ckpt, p + ".A_log", c.mambaNumHeads),
                load(ckpt, p + ".D", c.mambaNumHeads),
                load(ckpt, p + ".norm.weight", c.mambaIntermediateSize()));
    }

    private TrainableAttentionMixer attention(Checkpoint ckpt, String p, Projections projections) {
        NemotronHConfig c = config;
        int q = c.numAttentionHeads * c.headDim, kv = c.numKeyValueHeads * c.headDim;
        return new TrainableAttentionMixer(c,
                linear(ckpt, p + ".q_proj", "q_proj", q, c.hiddenSize, projections),
                linear(ckpt, p + ".k_proj", "k_proj", kv, c.hiddenSize, projections),
                linear(ckpt, p + ".v_proj", "v_proj", kv, c.hiddenSize, projections),
                linear(ckpt, p + ".o_proj", "o_proj", c.hiddenSize, q, projections));
    }

    private TrainableMlpMixer mlp(Checkpoint ckpt, String p, int in, int inner, Projections projections) {
        return new TrainableMlpMixer(linear(ckpt, p + ".up_proj", "up_proj", inner, in, projections),
                linear(ckpt, p + ".down_proj", "down_proj", in, inner, projections));
    }

    private TrainableMoeMixer moe(Checkpoint ckpt, String p, Projections projections) {
        NemotronHConfig c = config;
        int width = c.moeLatentSize > 0 ? c.moeLatentSize : c.hiddenSize;
        TrainableMlpMixer[] experts = new TrainableMlpMixer[c.nRoutedExperts];
        for (int e = 0; e < experts.length; e++) {
            experts[e] = mlp(ckpt, p + ".experts." + e, width, c.moeIntermediateSize, projections);
        }
        String biasName = p + ".gate.e_score_correction_bias";
        // a buffer, not a parameter, in transformers: it steers the choice of experts and never trains
        float[] bias = ckpt.has(biasName) ? ckpt.get(biasName, c.nRoutedExperts).toFloatArray() : new float[c.nRoutedExperts];
        boolean latent = c.moeLatentSize > 0;
        return new TrainableMoeMixer(c,
                linear(ckpt, p + ".gate", null, c.nRoutedExperts, c.hiddenSize, projections),
                bias, experts,
                mlp(ckpt, p + ".shared_experts", c.hiddenSize, c.moeSharedExpertIntermediateSize, projections),
                latent ? linear(ckpt, p + ".fc1_latent_proj", null, width, c.hiddenSize, projections) : null,
                latent ? linear(ckpt, p + ".fc2_latent_proj", null, c.hiddenSize, width, projections) : null);
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
