package dev.nemoh.io;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.nemoh.config.LoraConfig;
import dev.nemoh.tensor.Tensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * PEFT's on-disk LoRA format: {@code adapter_config.json} and {@code adapter_model.safetensors}, whose float32
 * tensors are named {@code base_model.model.<module>.lora_A.weight}, {@code .lora_B.weight} and (DoRA)
 * {@code .lora_magnitude_vector}, modules by transformers' in-memory names ({@code model.layers.N.mixer.in_proj}).
 * Fine-tuning writes and reads it; inference reads it.
 */
public final class PeftAdapter {
    public static final String CONFIG = "adapter_config.json";
    public static final String WEIGHTS = "adapter_model.safetensors";
    public static final String PREFIX = "base_model.model.";
    /** Suffixes of an adapted module's tensors: A [r, in], B [out, r] and DoRA's magnitudes [out]. */
    public static final String LORA_A = ".lora_A.weight", LORA_B = ".lora_B.weight", MAGNITUDE = ".lora_magnitude_vector";
    private static final ObjectMapper JSON = new ObjectMapper();

    private PeftAdapter() {}

    /** Writes the adapter; {@code tensors} are named without PEFT's prefix ({@code model.layers.0.mixer.in_proj.lora_A.weight}). */
    public static void save(Path dir, LoraConfig cfg, Path baseModel, List<Tensor> tensors) {
        ObjectNode c = JSON.createObjectNode();
        c.put("peft_type", "LORA");
        c.put("task_type", "CAUSAL_LM");
        c.put("base_model_name_or_path", baseModel.toAbsolutePath().toString());
        c.put("r", cfg.r());
        if (cfg.alpha() == Math.rint(cfg.alpha())) c.put("lora_alpha", (long) cfg.alpha());
        else c.put("lora_alpha", cfg.alpha());
        c.put("lora_dropout", cfg.dropout());
        var targets = c.putArray("target_modules");
        cfg.targetModules().forEach(targets::add);
        c.put("use_dora", cfg.useDora());
        c.put("use_rslora", cfg.useRslora());
        c.put("bias", "none");
        c.put("fan_in_fan_out", false);
        c.put("init_lora_weights", true);
        c.put("inference_mode", true);
        c.putObject("rank_pattern");
        c.putObject("alpha_pattern");
        c.putNull("modules_to_save");
        c.putNull("layers_to_transform");
        c.putNull("layers_pattern");
        SafetensorsWriter writer = new SafetensorsWriter().metadata("format", "pt");
        for (Tensor t : tensors) writer.add(Tensor.ofFloats(PREFIX + t.name(), t.toFloatArray(), t.shape()));
        try {
            Files.createDirectories(dir);
            Files.writeString(dir.resolve(CONFIG), c.toPrettyString());
        } catch (IOException e) {
            throw new CheckpointException("cannot write " + dir.resolve(CONFIG) + ": " + e.getMessage(), e);
        }
        writer.write(dir.resolve(WEIGHTS));
    }

    /** The LoRA settings of a saved adapter; settings nemoh does not implement are refused by name. */
    public static LoraConfig readConfig(Path dir) {
        Path file = dir.resolve(CONFIG);
        if (!Files.isRegularFile(file)) {
            throw new CheckpointException(file + " not found: an adapter directory holds " + CONFIG + " and " + WEIGHTS);
        }
        JsonNode c;
        try {
            c = JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new CheckpointException(file + " is not valid JSON: " + e.getMessage(), e);
        }
        String type = c.path("peft_type").asText("");
        if (!type.equals("LORA")) {
            throw new CheckpointException(file + ": peft_type is '" + type + "'; only LORA adapters (with or without DoRA) are supported");
        }
        refuseIf(file, !c.path("fan_in_fan_out").asBoolean(false), "fan_in_fan_out", "true");
        refuseIf(file, c.path("bias").asText("none").equals("none"), "bias", c.path("bias").asText());
        for (String key : List.of("rank_pattern", "alpha_pattern")) refuseIf(file, c.path(key).isEmpty(), key, c.path(key).toString());
        for (String key : List.of("layers_to_transform", "modules_to_save", "target_parameters", "exclude_modules")) {
            refuseIf(file, c.path(key).isNull() || c.path(key).isMissingNode(), key, c.path(key).toString());
        }
        JsonNode targets = c.path("target_modules");
        if (!targets.isArray()) {
            throw new CheckpointException(file + ": target_modules is " + targets
                    + "; only a list of module names is supported (a regular expression is not)");
        }
        List<String> modules = new ArrayList<>();
        targets.forEach(t -> modules.add(t.asText()));
        try {
            return new LoraConfig(c.path("r").asInt(8), c.path("lora_alpha").asDouble(8), c.path("lora_dropout").asDouble(0),
                    modules, c.path("use_rslora").asBoolean(false), c.path("use_dora").asBoolean(false), 0);
        } catch (IllegalArgumentException e) {
            throw new CheckpointException(file + ": " + e.getMessage(), e);
        }
    }

    /**
     * The base model the adapter records ({@code base_model_name_or_path}): a local directory when finetune wrote it,
     * a Hub name or a path on another machine otherwise; null when it records none. Read after {@link #readConfig}.
     */
    public static String baseModel(Path dir) {
        try {
            String base = JSON.readTree(dir.resolve(CONFIG).toFile()).path("base_model_name_or_path").asText("");
            return base.isEmpty() ? null : base;
        } catch (IOException e) {
            throw new CheckpointException(dir.resolve(CONFIG) + " is not valid JSON: " + e.getMessage(), e);
        }
    }

    private static void refuseIf(Path file, boolean fine, String key, String value) {
        if (!fine) throw new CheckpointException(file + ": " + key + " = " + value + " is not supported by nemoh's LoRA");
    }

    /** The adapter's tensors by parameter name (PEFT's prefix removed), as float32. */
    public static Map<String, float[]> readWeights(Path dir, Map<String, int[]> expectedShapes) {
        Path file = dir.resolve(WEIGHTS);
        if (!Files.isRegularFile(file)) {
            throw new CheckpointException(file + " not found: an adapter directory holds " + CONFIG + " and " + WEIGHTS);
        }
        Map<String, float[]> out = new LinkedHashMap<>();
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            for (Map.Entry<String, Tensor> e : f.tensors().entrySet()) {
                String name = e.getKey().startsWith(PREFIX) ? e.getKey().substring(PREFIX.length()) : e.getKey();
                int[] shape = expectedShapes.get(name);
                if (shape == null) {
                    throw new CheckpointException(file + " holds " + e.getKey()
                            + ", which the model with this adapter_config.json has no place for (an adapter of another base model?)");
                }
                long[] actual = e.getValue().shape();
                if (!java.util.Arrays.equals(actual, java.util.Arrays.stream(shape).asLongStream().toArray())) {
                    throw new CheckpointException(file + ": " + e.getKey() + " has shape " + e.getValue().shapeString()
                            + ", expected " + java.util.Arrays.toString(shape) + " (check r and the base model)");
                }
                out.put(name, e.getValue().toFloatArray());
            }
        }
        for (String name : expectedShapes.keySet()) {
            if (!out.containsKey(name)) throw new CheckpointException(file + " lacks " + PREFIX + name);
        }
        return out;
    }
}
