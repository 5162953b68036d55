package dev.nemoh.train;

import dev.nemoh.config.LoraConfig;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.nemoh.Fixtures;
import dev.nemoh.Tolerance;
import dev.nemoh.io.CheckpointException;
import dev.nemoh.io.PeftAdapter;
import dev.nemoh.io.SafetensorsFile;
import dev.nemoh.model.NemotronHModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** PEFT adapter files written and read back, fresh adapters, exports, and the errors for bad adapter settings. */
class AdapterFilesTest {
    static final Path BASE = Fixtures.model("nemotron-h-tiny");

    static Set<String> tensorNames(Path file) {
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            return new TreeSet<>(f.tensors().keySet());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"lora", "dora"})
    void savedAdaptersHavePeftNamesAndLoadBackIdentically(String kind, @TempDir Path tmp) throws Exception {
        Path peftDir = Fixtures.dir("nemotron-h-tiny").resolve(kind + "_adapter");
        LoraModel model = LoraModel.load(BASE, peftDir);
        // train a step so that the saved values are our own
        int[][] ids = {{5, 17, 42, 7, 99, 3}};
        model.lossAndBackward(ids, ids, 5);
        new AdamW(model.parameters(), 0.9, 0.95, 1e-8, 0.1).step(1e-2);
        model.save(tmp);
        assertEquals(tensorNames(peftDir.resolve(PeftAdapter.WEIGHTS)), tensorNames(tmp.resolve(PeftAdapter.WEIGHTS)));
        JsonNode cfg = new ObjectMapper().readTree(tmp.resolve(PeftAdapter.CONFIG).toFile());
        assertEquals("LORA", cfg.get("peft_type").asText());
        assertEquals(4, cfg.get("r").asInt());
        assertEquals(8, cfg.get("lora_alpha").asInt());
        assertEquals(kind.equals("dora"), cfg.get("use_dora").asBoolean());

        LoraModel back = LoraModel.load(BASE, tmp);
        assertEquals(model.parameters().size(), back.parameters().size());
        for (int i = 0; i < model.parameters().size(); i++) {
            assertEquals(model.parameters().get(i).name, back.parameters().get(i).name);
            assertArrayEquals(model.parameters().get(i).value, back.parameters().get(i).value);
        }
        assertArrayEquals(model.logits(ids[0]), back.logits(ids[0]));
    }

    /** Logits max abs differences as measured; bounds are about ten times these ({@link Tolerance}). */
    static final double FRESH_LORA = 1.4e-6, FRESH_DORA = 1.4e-6, F32_EXPORT = 9.6e-7;

    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void freshAdaptersLeaveTheBaseModelUnchanged(boolean dora) {
        LoraConfig cfg = new LoraConfig(4, 8, 0, LoraConfig.MODULES, false, dora, 7);
        LoraModel model = LoraModel.create(BASE, cfg);
        int[] ids = {5, 17, 42, 7, 99, 3, 250, 1};
        try (NemotronHModel base = NemotronHModel.load(BASE)) {
            double err = Fixtures.maxAbs(model.logits(ids), base.forward(ids, null));
            Tolerance.check("B = 0 (and m = ‖W‖) against the base model, logits max abs, DoRA " + dora, err,
                    dora ? FRESH_DORA : FRESH_LORA);
        }
        for (Parameter p : model.parameters()) {
            if (p.name.endsWith("lora_A.weight")) {
                double bound = 1 / Math.sqrt(p.shape[1]), max = 0;
                for (float v : p.value) max = Math.max(max, Math.abs(v));
                assertTrue(max <= bound && max > 0.5 * bound, p.name + " is U(±1/√in): max " + max);
            }
        }
        // out_proj, which PEFT refuses on Mamba layers, carries an adapter here
        assertTrue(model.parameters().stream().anyMatch(p -> p.name.equals("model.layers.0.mixer.out_proj.lora_A.weight")));
    }

    @Test
    void fullFineTuneExportsACheckpointThatLoadsWithTheTrainedWeights(@TempDir Path tmp) throws Exception {
        FullFineTune model = FullFineTune.load(BASE);
        int[][] ids = {{5, 17, 42, 7, 99, 3, 250, 1}};
        model.lossAndBackward(ids, ids, 7);
        new AdamW(model.parameters(), 0.9, 0.95, 1e-8, 0.1).step(1e-2);
        model.export(tmp.resolve("f32"), true);
        model.export(tmp.resolve("bf16"));
        assertTrue(Files.exists(tmp.resolve("bf16/generation_config.json")));
        try (NemotronHModel f32 = NemotronHModel.load(tmp.resolve("f32"));
             NemotronHModel bf16 = NemotronHModel.load(tmp.resolve("bf16"))) {
            float[] expected = model.logits(ids[0]);
            double exact = Fixtures.maxAbs(f32.forward(ids[0], null), expected);
            double rounded = Fixtures.maxAbs(bf16.forward(ids[0], null), expected);
            Tolerance.check("float32 export against the trained logits, max abs", exact, F32_EXPORT);
            assertTrue(rounded > 0 && rounded < 0.1, "bf16 export rounds the trained weights: max abs " + rounded);
        }
        assertThrows(IllegalArgumentException.class, () -> model.export(BASE));
    }

    @Test
    void badSettingsAreRefusedByName(@TempDir Path tmp) throws Exception {
        var e = assertThrows(IllegalArgumentException.class,
                () -> new LoraConfig(4, 8, 0, List.of("in_proj", "gate_proj"), false, false, 0));
        assertTrue(e.getMessage().contains("gate_proj") && e.getMessage().contains("out_proj"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new LoraConfig(0, 8, 0, List.of("in_proj"), false, false, 0));

        Path adapter = Fixtures.dir("nemotron-h-tiny").resolve("lora_adapter");
        Files.copy(adapter.resolve(PeftAdapter.WEIGHTS), tmp.resolve(PeftAdapter.WEIGHTS));
        String config = Files.readString(adapter.resolve(PeftAdapter.CONFIG));
        Files.writeString(tmp.resolve(PeftAdapter.CONFIG), config.replace("\"fan_in_fan_out\": false", "\"fan_in_fan_out\": true"));
        var bad = assertThrows(CheckpointException.class, () -> LoraModel.load(BASE, tmp));
        assertTrue(bad.getMessage().contains("fan_in_fan_out"), bad.getMessage());
        Files.writeString(tmp.resolve(PeftAdapter.CONFIG), config.replace("\"r\": 4", "\"r\": 8"));
        var shape = assertThrows(CheckpointException.class, () -> LoraModel.load(BASE, tmp));
        assertTrue(shape.getMessage().contains("shape"), shape.getMessage());
        var missing = assertThrows(CheckpointException.class, () -> LoraModel.load(BASE, tmp.resolve("none")));
        assertTrue(missing.getMessage().contains(PeftAdapter.CONFIG), missing.getMessage());
    }
}
