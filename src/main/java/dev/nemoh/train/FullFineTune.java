package dev.nemoh.train;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Every weight of the model trains, from float32 master copies of the checkpoint's (often bf16) values. */
public final class FullFineTune implements TrainableModel {
    private final DifferentiableModel model;
    private final List<Parameter> parameters;

    private FullFineTune(DifferentiableModel model) {
        this.model = model;
        this.parameters = model.baseParameters();
    }

    public static FullFineTune load(Path modelDir) {
        return new FullFineTune(DifferentiableModel.load(modelDir, true,
                (prefix, module, weight, bias) -> new DenseProjection(weight, bias, true)));
    }

    /** Named by the checkpoint ({@code backbone.layers.0.mixer.in_proj.weight}...), in the checkpoint's layer order. */
    @Override
    public List<Parameter> parameters() {
        return parameters;
    }

    @Override
    public LossSum lossAndBackward(int[][] inputIds, int[][] labels, double normalizer) {
        return model.run(inputIds, labels, normalizer, true);
    }

    @Override
    public LossSum loss(int[][] inputIds, int[][] labels) {
        return model.run(inputIds, labels, 1, false);
    }

    /** Full fine-tuning has no dropout: transformers' NemotronH applies none in the layers trained here. */
    @Override
    public void setTraining(boolean training) {}

    /** Logits [len, vocab] of one sequence with the current weights. */
    public float[] logits(int[] ids) {
        return model.forward(ids);
    }

    /** A Hugging Face checkpoint of the current weights, in the base checkpoint's dtypes, loadable by nemoh and transformers. */
    public void export(Path outDir) {
        export(outDir, false);
    }

    /** As {@link #export(Path)}; with {@code float32} every floating tensor is written as float32 (exact master weights). */
    public void export(Path outDir, boolean float32) {
        Map<String, float[]> values = new LinkedHashMap<>();
        for (Parameter p : parameters) values.put(p.name, p.value);
        HfExport.write(model.dir, outDir, values, float32);
    }
}
