package dev.nemoh.train;

import dev.nemoh.config.LoraConfig;
import dev.nemoh.config.WeightSchema;
import dev.nemoh.io.PeftAdapter;
import dev.nemoh.tensor.Tensor;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;

/**
 * A frozen base model with LoRA (or DoRA) adapters on the target linear layers; only the adapters train. Adapters
 * load from and save to PEFT's format, and merge into a Hugging Face checkpoint.
 */
public final class LoraModel extends TrainableNemotronH {
    private final LoraConfig config;
    private final List<Parameter> parameters;
    /** by the base checkpoint's weight name ({@code backbone.layers.0.mixer.in_proj.weight}) */
    private final Map<String, LoraProjection> adapters;
    private final AtomicBoolean training;
    /** Shared by every adapter's dropout (after it drew A's initial values). */
    private final Random rng;

    private LoraModel(DifferentiableModel model, LoraConfig config, List<Parameter> parameters,
                      Map<String, LoraProjection> adapters, AtomicBoolean training, Random rng) {
        super(model);
        this.config = config;
        this.parameters = Collections.unmodifiableList(parameters);
        this.adapters = adapters;
        this.training = training;
        this.rng = rng;
    }

    /**
     * New adapters initialised as PEFT does: A kaiming-uniform (a = √5, so U(±1/√in)), B zero (the adapted model
     * starts equal to the base), DoRA magnitudes the row norms of W.
     */
    public static LoraModel create(Path baseDir, LoraConfig cfg) {
        List<Parameter> params = new ArrayList<>();
        Map<String, LoraProjection> adapters = new LinkedHashMap<>();
        AtomicBoolean training = new AtomicBoolean(false);
        Random rng = new Random(cfg.seed());
        DifferentiableModel model = DifferentiableModel.frozen(baseDir, (spec, weight, bias) -> {
            if (!cfg.targetModules().contains(spec.module())) return new DenseProjection(weight, bias);
            String name = WeightSchema.modulePath(spec.prefix());
            int out = weight.rows(), in = weight.cols();
            float[] a = new float[cfg.r() * in];
            double bound = 1 / Math.sqrt(in);
            for (int i = 0; i < a.length; i++) a[i] = (float) ((rng.nextDouble() * 2 - 1) * bound);
            Parameter loraA = new Parameter(name + PeftAdapter.LORA_A, new int[] {cfg.r(), in}, a);
            Parameter loraB = new Parameter(name + PeftAdapter.LORA_B, new int[] {out, cfg.r()}, new float[out * cfg.r()]);
            Parameter magnitude = cfg.useDora()
                    ? new Parameter(name + PeftAdapter.MAGNITUDE, new int[] {out}, new float[out])
                    : null;
            params.add(loraA);
            params.add(loraB);
            if (magnitude != null) params.add(magnitude);
            LoraProjection p = new LoraProjection(weight, bias == null ? null : bias.value, loraA, loraB, magnitude,
                    cfg.scaling(), cfg.dropout(), rng, training::get);
            // B is zero, so these are the row norms of W
            if (magnitude != null) System.arraycopy(p.adaptedRowNorms(), 0, magnitude.value, 0, out);
            adapters.put(weight.name(), p);
            return p;
        });
        if (adapters.isEmpty()) {
            throw new IllegalArgumentException("the model in " + baseDir + " has none of the target modules "
                    + cfg.targetModules() + "; choose from its layers' " + LoraConfig.MODULES);
        }
        return new LoraModel(model, cfg, params, adapters, training, rng);
    }

    /** Adapters saved in PEFT's format (by PEFT or by {@link #save}) on the base model they were trained on. */
    public static LoraModel load(Path baseDir, Path adapterDir) {
        LoraModel m = create(baseDir, PeftAdapter.readConfig(adapterDir));
        Map<String, int[]> shapes = new LinkedHashMap<>();
        for (Parameter p : m.parameters) shapes.put(p.name, p.shape);
        Map<String, float[]> values = PeftAdapter.readWeights(adapterDir, shapes);
        for (Parameter p : m.parameters) System.arraycopy(values.get(p.name), 0, p.value, 0, p.numel());
        return m;
    }

    public LoraConfig config() {
        return config;
    }

    /** The kind (lora or dora), r, alpha, dropout, rsLoRA and the target modules as a sorted set. */
    @Override
    Map<String, Object> peftSettings() {
        Map<String, Object> f = new LinkedHashMap<>();
        f.put("peft", config.useDora() ? "dora" : "lora");
        f.put("r", config.r());
        f.put("alpha", config.alpha());
        f.put("dropout", config.dropout());
        f.put("rslora", config.useRslora());
        f.put("targets", String.join(",", new java.util.TreeSet<>(config.targetModules())));
        return f;
    }

    /** PEFT's names without its {@code base_model.model.} prefix: A, B (and the DoRA magnitude) per adapted layer. */
    @Override
    public List<Parameter> parameters() {
        return parameters;
    }

    /** LoRA dropout applies only while training. */
    @Override
    public void setTraining(boolean training) {
        this.training.set(training);
    }

    /** The trainer reseeds the dropout masks every step, so a resumed run draws the masks of an unbroken one. */
    @Override
    public void seedDropout(long seed) {
        rng.setSeed(seed);
    }

    /** adapter_config.json + adapter_model.safetensors, as PEFT's {@code save_pretrained} writes them. */
    public void save(Path adapterDir) {
        PeftAdapter.save(adapterDir, config, model.dir,
                parameters.stream().map(p -> Tensor.ofFloats(p.name, p.value, p.longShape())).toList());
    }

    /**
     * A Hugging Face checkpoint of the base with every adapter merged into its weight (PEFT's merge_and_unload), in
     * the base checkpoint's dtypes.
     */
    public void mergeAndExport(Path outDir) {
        mergeAndExport(outDir, false);
    }

    /** As {@link #mergeAndExport(Path)}; with {@code float32} every floating tensor is written as float32. */
    public void mergeAndExport(Path outDir, boolean float32) {
        Map<String, Supplier<float[]>> merged = new LinkedHashMap<>();
        adapters.forEach((name, adapter) -> merged.put(name, adapter::mergedWeight));
        HfExport.write(model.dir, outDir, merged, float32);
    }
}
