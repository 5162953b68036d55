package dev.nemoh.train;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/** Every weight of the model trains, from float32 master copies of the checkpoint's (often bf16) values. */
public final class FullFineTune extends TrainableNemotronH {
    private final List<Parameter> parameters;

    private FullFineTune(DifferentiableModel model) {
        super(model);
        this.parameters = model.baseParameters();
    }

    public static FullFineTune load(Path modelDir) {
        return new FullFineTune(DifferentiableModel.trainAll(modelDir));
    }

    /** Named by the checkpoint ({@code backbone.layers.0.mixer.in_proj.weight}...), in the checkpoint's layer order. */
    @Override
    public List<Parameter> parameters() {
        return parameters;
    }

    @Override
    Map<String, Object> peftSettings() {
        return Map.of("peft", "none");
    }

    /** Full fine-tuning has no dropout: transformers' NemotronH applies none in the layers trained here. */
    @Override
    public void setTraining(boolean training) {}

    /** A Hugging Face checkpoint of the current weights, in the base checkpoint's dtypes, loadable by nemoh and transformers. */
    public void export(Path outDir) {
        export(outDir, false);
    }

    /** As {@link #export(Path)}; with {@code float32} every floating tensor is written as float32 (exact master weights). */
    public void export(Path outDir, boolean float32) {
        Map<String, Supplier<float[]>> values = new LinkedHashMap<>();
        for (Parameter p : parameters) values.put(p.name, () -> p.value);
        HfExport.write(model.dir, outDir, values, float32);
    }
}
