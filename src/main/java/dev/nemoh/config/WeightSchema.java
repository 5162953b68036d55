package dev.nemoh.config;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Every tensor of a NemotronHForCausalLM checkpoint for one config: the embeddings, each block's pre-norm and
 * mixer ({@link BlockWeights}), {@code norm_f} and the LM head. transformers' NemotronH ties nothing
 * ({@code _tied_weights_keys = {}}): a stored {@code lm_head} is used even when {@code tie_word_embeddings} is set, and
 * only a tied checkpoint without one falls back to the embeddings.
 */
public final class WeightSchema {
    /** One block: {@code x + mixer(norm(x))}. */
    public record Layer(int index, LayerType type, TensorSpec norm, BlockWeights mixer) {}

    private static final String BACKBONE = "backbone.";
    /** transformers' in-memory module path of the backbone (PEFT's and optimizer state names use it). */
    private static final String MODULE_ROOT = "model.";

    public final TensorSpec embeddings;
    public final List<Layer> layers;
    public final TensorSpec normF;
    /** Its weight is optional when {@code tie_word_embeddings} is set. */
    public final LinearSpec lmHead;

    private WeightSchema(NemotronHConfig c) {
        int h = c.hiddenSize;
        embeddings = TensorSpec.required(BACKBONE + "embeddings.weight", c.vocabSize, h);
        List<Layer> blocks = new ArrayList<>();
        for (int i = 0; i < c.numLayers(); i++) {
            String p = BACKBONE + "layers." + i;
            LayerType type = c.layers.get(i);
            blocks.add(new Layer(i, type, TensorSpec.required(p + ".norm.weight", h), BlockWeights.of(c, type, p + ".mixer")));
        }
        layers = List.copyOf(blocks);
        normF = TensorSpec.required(BACKBONE + "norm_f.weight", h);
        lmHead = new LinearSpec("lm_head", "lm_head",
                TensorSpec.requiredIf(!c.tieWordEmbeddings, "tie_word_embeddings = false", "lm_head.weight", c.vocabSize, h),
                TensorSpec.requiredIf(false, null, "lm_head.bias", c.vocabSize));
    }

    public static WeightSchema of(NemotronHConfig c) {
        return new WeightSchema(c);
    }

    /** Every tensor, in checkpoint order. */
    public List<TensorSpec> tensors() {
        List<TensorSpec> all = new ArrayList<>();
        all.add(embeddings);
        for (Layer l : layers) {
            all.add(l.norm);
            all.addAll(l.mixer.tensors());
        }
        all.add(normF);
        all.add(lmHead.weight());
        all.add(lmHead.bias());
        return all;
    }

    /** Every tensor by name. */
    public Map<String, TensorSpec> byName() {
        Map<String, TensorSpec> m = new LinkedHashMap<>();
        for (TensorSpec t : tensors()) m.put(t.name(), t);
        return m;
    }

    /** The checkpoint name's transformers module path: {@code backbone.layers.0.mixer.in_proj} → {@code model.layers.0.mixer.in_proj}. */
    public static String modulePath(String checkpointName) {
        return checkpointName.startsWith(BACKBONE) ? MODULE_ROOT + checkpointName.substring(BACKBONE.length()) : checkpointName;
    }

    /** The checkpoint name of a transformers module path: the inverse of {@link #modulePath}. */
    public static String checkpointName(String modulePath) {
        return modulePath.startsWith(MODULE_ROOT) ? BACKBONE + modulePath.substring(MODULE_ROOT.length()) : modulePath;
    }
}
