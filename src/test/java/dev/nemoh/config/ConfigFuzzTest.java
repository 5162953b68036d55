package dev.nemoh.config;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.nemoh.FuzzOracle;

import java.nio.charset.StandardCharsets;

/**
 * Fuzzes {@code config.json} parsing ({@link NemotronHConfig#parse}, which {@link NemotronHConfig#load} shares).
 * Oracle: {@link ConfigException}, or a config that describes a model nemoh can build: every derived width positive
 * (no int overflow), every tensor of its {@link WeightSchema} with positive dimensions, a non-negative parameter count
 * and cache size, and the same config again after the round trip through {@link NemotronHConfig#toJsonString} (what
 * {@code nemoh init} and fine-tuning write). Never another exception, a hang, or more than 512 MiB allocated (a config of the largest size nemoh accepts builds a weight schema of 65536 experts).
 */
class ConfigFuzzTest {
    static final FuzzOracle ORACLE = FuzzOracle.of("config.json", FuzzOracle.types(ConfigException.class), 512);

    @FuzzTest(maxDuration = "5m")
    void parse(byte[] json) {
        String text = new String(json, StandardCharsets.UTF_8);
        ORACLE.check(() -> {
            NemotronHConfig c = NemotronHConfig.parse(text);
            checkBuildable(c);
        });
    }

    static void checkBuildable(NemotronHConfig c) {
        if (c.layers.contains(LayerType.MAMBA)) {
            positive("mambaIntermediateSize", c.mambaIntermediateSize());
            positive("convDim", c.convDim());
            positive("inProjSize", c.inProjSize());
        }
        WeightSchema schema = WeightSchema.of(c);
        for (TensorSpec t : schema.tensors()) {
            for (long d : t.shape()) positive(t.name() + " dimension", d);
            Math.multiplyExact(t.numel(), 1);
        }
        if (c.paramCount() < 0) throw new AssertionError("parameter count overflows: " + c.paramCount());
        if (c.activeParamCount() < 0) throw new AssertionError("active parameter count overflows");
        if (c.cacheBytes(c.maxPositionEmbeddings, 2) < 0) throw new AssertionError("cache bytes overflow");
        NemotronHConfig again = NemotronHConfig.parse(c.toJsonString());
        if (!again.toJsonString().equals(c.toJsonString())) {
            throw new AssertionError("the config changes on a round trip through toJson:\n" + c.toJsonString()
                    + "\n" + again.toJsonString());
        }
    }

    private static void positive(String what, long v) {
        if (v <= 0) throw new AssertionError(what + " is " + v + " for a config that parsed");
    }
}
