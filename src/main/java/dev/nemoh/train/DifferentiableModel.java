package dev.nemoh.train;

import dev.nemoh.config.NemotronHConfig;
import dev.nemoh.io.Checkpoint;
import dev.nemoh.io.CheckpointException;
import dev.nemoh.model.RmsNorm;
import dev.nemoh.tensor.Tensor;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * NemotronHForCausalLM with a backward pass: every weight of a checkpoint in float32 (read from bf16 or whatever it
 * stores), the training forward of each block, the causal-LM cross-entropy and the gradients, layer by layer in
 * reverse, in the spirit of llm.c. Sequences run one at a time; gradients add up over them.
 */
final class DifferentiableModel {
    /** Makes the layer for one of the adaptable linear layers (in_proj, q_proj...) from its frozen or trainable weights. */
    interface Projections {
        Projection create(String prefix, String module, Parameter weight, Parameter bias);
    }

    private record Layer(RmsNorm norm, Parameter normWeight, TrainableMixer mixer) {}

    final NemotronHConfig config;
    final Path dir;
    /** Every checkpoint tensor that the forward uses, by checkpoint name, in checkpoint order of the layers. */
    final Map<String, Parameter> weights = new LinkedHashMap<>();
    private final boolean trainBase;
    private final Parameter embeddings;
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
        embeddings = load(ckpt, "backbone.embeddings.weight", config.vocabSize, h);
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
        lmHead = ckpt.has("lm_head.weight") || !config.tieWordEmbeddings
                ? new DenseProjection(load(ckpt, "lm_head.weight", config.vocabSize, h), null, trainBase)
                : new DenseProjection(embeddings, null, trainBase);
    }

    /** Reads a Hugging Face model directory; {@code trainBase} says whether the base weights get gradients. */
    static DifferentiableModel load(Path dir, boolean trainBase, Projections projections) {
        NemotronHConfig config = NemotronHConfig.load(dir);
        try (Checkpoint ckpt = Checkpoint.open(dir)) {
            return new DifferentiableModel(config, dir, ckpt, trainBase, projections);
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

    private Projection linear(Checkpoint ckpt, String prefix, String module, int out, int in, Projections projections) {
        Parameter w = load(ckpt, prefix + ".weight", out, in);
        Parameter b = ckpt.has(prefix + ".bias") ? load(ckpt, prefix + ".bias", out) : null;
        return module == null ? new DenseProjection(w, b, trainBase) : projections.create(prefix, module, w, b);
    }

    private MambaLayer mamba(Checkpoint ckpt, String p, Projections projections) {
        NemotronHConfig c = config;
        int conv = c.convDim();
        Parameter convBias;
        if (ckpt.has(p + ".conv1d.bias")) {
            convBias = load(ckpt, p + ".conv1d.bias", conv);
        } else if (c.useConvBias) {
            throw new CheckpointException("tensor " + p + ".conv1d.bias is missing but config.json sets use_conv_bias = true");
        } else {
            convBias = new Parameter(p + ".conv1d.bias", new int[] {conv}, new float[conv]); // not a weight: never trained
        }
        return new MambaLayer(c,
                linear(ckpt, p + ".in_proj", "in_proj", c.inProjSize(), c.hiddenSize, projections),
                linear(ckpt, p + ".out_proj", "out_proj", c.hiddenSize, c.mambaIntermediateSize(), projections),
                load(ckpt, p + ".conv1d.weight", conv, 1, c.convKernel),
                convBias,
                load(ckpt, p + ".dt_bias", c.mambaNumHeads),
                load(ckpt, p + ".A_log", c.mambaNumHeads),
                load(ckpt, p + ".D", c.mambaNumHeads),
                load(ckpt, p + ".norm.weight", c.mambaIntermediateSize()));
    }

    private AttentionLayer attention(Checkpoint ckpt, String p, Projections projections) {
        NemotronHConfig c = config;
        int q = c.numAttentionHeads * c.headDim, kv = c.numKeyValueHeads * c.headDim;
        return new AttentionLayer(c,
                linear(ckpt, p + ".q_proj", "q_proj", q, c.hiddenSize, projections),
                linear(ckpt, p + ".k_proj", "k_proj", kv, c.hiddenSize, projections),
                linear(ckpt, p + ".v_proj", "v_proj", kv, c.hiddenSize, projections),
                linear(ckpt, p + ".o_proj", "o_proj", c.hiddenSize, q, projections));
    }

    private MlpLayer mlp(Checkpoint ckpt, String p, int in, int inner, Projections projections) {
        return new MlpLayer(linear(ckpt, p + ".up_proj", "up_proj", inner, in, projections),
                linear(ckpt, p + ".down_proj", "down_proj", in, inner, projections));
    }

    private MoeLayer moe(Checkpoint ckpt, String p, Projections projections) {
        NemotronHConfig c = config;
        int width = c.moeLatentSize > 0 ? c.moeLatentSize : c.hiddenSize;
        MlpLayer[] experts = new MlpLayer[c.nRoutedExperts];
        for (int e = 0; e < experts.length; e++) {
            experts[e] = mlp(ckpt, p + ".experts." + e, width, c.moeIntermediateSize, projections);
        }
        String biasName = p + ".gate.e_score_correction_bias";
        // a buffer, not a parameter, in transformers: it steers the choice of experts and never trains
        float[] bias = ckpt.has(biasName) ? ckpt.get(biasName, c.nRoutedExperts).toFloatArray() : new float[c.nRoutedExperts];
        boolean latent = c.moeLatentSize > 0;
        return new MoeLayer(c,
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
        int len = ids.length, h = config.hiddenSize;
        float[] x = new float[len * h];
        for (int t = 0; t < len; t++) System.arraycopy(embeddings.value, ids[t] * h, x, t * h, h);
        layerInputs = new float[layers.size()][];
        for (int i = 0; i < layers.size(); i++) {
            Layer layer = layers.get(i);
            layerInputs[i] = x.clone();
            float[] out = layer.mixer.forward(layer.norm.forward(x, len), len);
            for (int j = 0; j < x.length; j++) x[j] += out[j];
        }
        finalInput = x;
        return lmHead.forward(normF.forward(x, len), len);
    }

    /** Gradients from dL/d(logits) of the sequence last run through {@link #forward}. */
    void backward(int[] ids, float[] dLogits) {
        int len = ids.length, h = config.hiddenSize;
        float[] dNormed = lmHead.backward(dLogits, len);
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
        int v = config.vocabSize;
        for (int row = 0; row < ids.length; row++) {
            int len = ids[row].length;
            float[] logits = forward(ids[row]);
            float[] dLogits = backward ? new float[logits.length] : null;
            for (int t = 0; t + 1 < len; t++) {
                int target = labels[row][t + 1];
                if (target == -100) continue;
                sum += crossEntropy(logits, t * v, v, target, dLogits, 1 / normalizer);
                targets++;
            }
            if (backward) backward(ids[row], dLogits);
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
            if (ids[row].length == 0) throw new IllegalArgumentException("row " + row + " has no tokens");
            if (ids[row].length != labels[row].length) {
                throw new IllegalArgumentException("row " + row + ": " + ids[row].length + " input ids but "
                        + labels[row].length + " labels; give one label per token (-100 to ignore it)");
            }
            for (int t = 0; t < ids[row].length; t++) {
                int id = ids[row][t], label = labels[row][t];
                if (id < 0 || id >= v) {
                    throw new IllegalArgumentException("token id " + id + " at row " + row + ", position " + t
                            + " is outside the vocabulary [0, " + v + ")");
                }
                if (label != -100 && (label < 0 || label >= v)) {
                    throw new IllegalArgumentException("label " + label + " at row " + row + ", position " + t
                            + " is outside the vocabulary [0, " + v + ") and is not -100 (ignored)");
                }
            }
        }
    }
}
