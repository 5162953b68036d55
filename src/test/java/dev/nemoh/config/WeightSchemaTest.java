package dev.nemoh.config;

import dev.nemoh.Fixtures;
import dev.nemoh.io.Checkpoint;
import dev.nemoh.io.CheckpointException;
import dev.nemoh.io.SafetensorsWriter;
import dev.nemoh.tensor.DType;
import dev.nemoh.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The weight schema describes the checkpoints transformers writes, and is the only place their names are spelled. */
class WeightSchemaTest {
    static List<Path> checkpoints() {
        List<Path> dirs = new ArrayList<>();
        for (String f : Fixtures.ALL) dirs.add(Fixtures.model(f));
        dirs.add(Path.of("models/nemoh-tiny"));
        return dirs;
    }

    @Test
    void everyTensorOfEachCheckpointMatchesExactlyOneSpecAndEveryRequiredSpecIsPresent() {
        for (Path dir : checkpoints()) {
            NemotronHConfig c = NemotronHConfig.load(dir);
            Map<String, TensorSpec> specs = WeightSchema.of(c).byName();
            assertEquals(WeightSchema.of(c).tensors().size(), specs.size(), dir + ": two specs share a name");
            try (Checkpoint ckpt = Checkpoint.open(dir)) {
                for (String name : ckpt.names()) {
                    TensorSpec spec = specs.get(name);
                    assertTrue(spec != null, dir + ": tensor " + name + " matches no spec of the schema");
                    Tensor t = ckpt.get(name);
                    assertTrue(Arrays.equals(t.shape(), spec.shape()) || t.numel() == spec.numel(),
                            dir + ": " + name + " has shape " + Arrays.toString(t.shape()) + ", the schema says " + spec);
                }
                for (TensorSpec spec : specs.values()) {
                    if (spec.required()) assertTrue(ckpt.has(spec.name()), dir + ": required " + spec + " is missing");
                }
            }
        }
    }

    @Test
    void parameterCountsAddUpTheSchema() {
        for (Path dir : checkpoints()) {
            NemotronHConfig c = NemotronHConfig.load(dir);
            long fromSpecs = 0;
            for (TensorSpec t : WeightSchema.of(c).tensors()) {
                boolean counted = t.role() == TensorSpec.Role.PARAMETER && (t.required() || t.name().equals("lm_head.weight"));
                if (counted) fromSpecs += t.numel();
            }
            assertEquals(c.paramCount(), fromSpecs, dir.toString());
        }
        // Nemotron-H 8B as published: 8.1 B parameters (transformers' count)
        NemotronHConfig h8 = Presets.get("nemotron-h-8b");
        assertTrue(Math.abs(h8.paramCount() - 8.1e9) < 0.1e9, "8B preset counts " + h8.paramCount());
    }

    @Test
    void aMissingRequiredTensorNamesTheSettingThatNeedsIt(@TempDir Path tmp) throws IOException {
        NemotronHConfig c = NemotronHConfig.load(Fixtures.model("nemotron-h-tiny")).toBuilder().useConvBias(true).build();
        Files.writeString(tmp.resolve("config.json"), c.toJsonString());
        WeightSchema schema = WeightSchema.of(c);
        BlockWeights.Mamba2 m = (BlockWeights.Mamba2) schema.layers.getFirst().mixer();
        SafetensorsWriter w = new SafetensorsWriter();
        w.add(m.convWeight().name(), DType.F32, m.convWeight().shape(), seg -> { });
        w.write(tmp.resolve(Checkpoint.SINGLE));
        try (Checkpoint ckpt = Checkpoint.open(tmp)) {
            CheckpointException e = assertThrows(CheckpointException.class, () -> ckpt.get(m.convBias()));
            assertTrue(e.getMessage().contains("use_conv_bias"), e.getMessage());
            assertEquals(null, ckpt.find(schema.lmHead.bias()), "an optional tensor that is absent is found as null");
        }
    }

    /**
     * No tensor name of the schema is spelled in {@code src/main} outside it: loaders, training, writers and the GPU
     * backend take names from the schema. The GGUF writer spells llama.cpp's names, not these.
     */
    @Test
    void tensorNamesAreSpelledOnlyInTheSchema() throws IOException {
        Set<String> words = new TreeSet<>();
        for (Path dir : checkpoints()) {
            NemotronHConfig c = NemotronHConfig.load(dir);
            for (NemotronHConfig shape : List.of(c, c.toBuilder().moeLatentSize(8).build())) {
                for (TensorSpec t : WeightSchema.of(shape).tensors()) {
                    for (String part : t.name().split("\\.")) {
                        // distinctive names only: "weight", "norm", "D", "conv1d" (also a CUDA kernel) or a layer
                        // number say nothing on their own
                        if (part.contains("_") || part.equals("backbone")) words.add(part);
                    }
                }
            }
        }
        assertTrue(words.containsAll(List.of("A_log", "dt_bias", "e_score_correction_bias", "in_proj", "q_proj",
                "up_proj", "shared_experts", "fc1_latent_proj", "norm_f", "lm_head")), words.toString());
        Pattern literal = Pattern.compile("\"((?:[^\"\\\\]|\\\\.)*)\"");
        Set<Path> schema = Set.of(Path.of("src/main/java/dev/nemoh/config/BlockWeights.java"),
                Path.of("src/main/java/dev/nemoh/config/WeightSchema.java"));
        List<String> offenders = new ArrayList<>();
        try (Stream<Path> files = Files.walk(Path.of("src/main"))) {
            for (Path f : files.filter(p -> p.toString().endsWith(".java") || p.toString().endsWith(".cu")).toList()) {
                if (schema.contains(f)) continue;
                List<String> lines = Files.readAllLines(f);
                for (int i = 0; i < lines.size(); i++) {
                    Matcher m = literal.matcher(lines.get(i));
                    while (m.find()) {
                        for (String word : words) {
                            if (Pattern.compile("(?<![A-Za-z0-9_])" + Pattern.quote(word) + "(?![A-Za-z0-9_])").matcher(m.group(1)).find()) {
                                offenders.add(f + ":" + (i + 1) + " spells " + word + " in " + m.group());
                            }
                        }
                    }
                }
            }
        }
        assertTrue(offenders.isEmpty(), String.join("\n", offenders));
    }
}
