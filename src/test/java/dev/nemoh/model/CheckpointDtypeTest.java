package dev.nemoh.model;

import dev.nemoh.Fixtures;
import dev.nemoh.Tolerance;
import dev.nemoh.io.Checkpoint;
import dev.nemoh.io.SafetensorsWriter;
import dev.nemoh.tensor.DType;
import dev.nemoh.tensor.Numerics;
import dev.nemoh.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The same model stored as F32, F16 and FP8 E4M3 (with per-tensor weight_scale) loads and computes the same logits. */
class CheckpointDtypeTest {
    static final String FIXTURE = "nemotron-h-tiny";
    static final int[] IDS = {1, 5, 17, 42, 7, 300, 12, 99, 250, 3};

    static float[] logits(Path dir) {
        try (NemotronHModel m = NemotronHModel.load(dir)) {
            return m.forward(IDS, null);
        }
    }

    /** Rewrites the fixture with every tensor passed through {@code convert}. */
    static Path rewrite(Path tmp, String name, Function<Tensor, Tensor[]> convert) throws IOException {
        Path dir = Files.createDirectory(tmp.resolve(name));
        Files.copy(Fixtures.model(FIXTURE).resolve("config.json"), dir.resolve("config.json"));
        SafetensorsWriter w = new SafetensorsWriter();
        try (Checkpoint src = Checkpoint.open(Fixtures.model(FIXTURE))) {
            for (String n : src.names()) for (Tensor t : convert.apply(src.get(n))) w.add(t);
            w.write(dir.resolve("model.safetensors"));
        }
        return dir;
    }

    static Tensor f16(Tensor t) {
        float[] v = t.toFloatArray();
        MemorySegment seg = MemorySegment.ofArray(new byte[v.length * 2]);
        for (int i = 0; i < v.length; i++) seg.set(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 2L * i, Float.floatToFloat16(v[i]));
        return new Tensor(t.name(), DType.F16, t.shape(), seg);
    }

    static final double F32_STORAGE = 0.0;

    @Test
    void float32CheckpointGivesTheSameLogits(@TempDir Path tmp) throws IOException {
        Path dir = rewrite(tmp, "f32", t -> new Tensor[] {Tensor.ofFloats(t.name(), t.toFloatArray(), t.shape())});
        double err = Fixtures.maxAbs(logits(dir), logits(Fixtures.model(FIXTURE)));
        // the same values widened the same way: measured exactly equal
        Tolerance.check("f32 vs bf16 storage of the same values, logits max abs", err, F32_STORAGE);
    }

    @Test
    void float16CheckpointGivesNearlyTheSameLogits(@TempDir Path tmp) throws IOException {
        Path dir = rewrite(tmp, "f16", t -> new Tensor[] {f16(t)});
        double err = Fixtures.maxAbs(logits(dir), logits(Fixtures.model(FIXTURE)));
        // bf16 values are exact in f16 unless they are tiny (f16 subnormals); the logits barely move
        assertTrue(err < 1e-3, "f16 vs bf16: " + err);
    }

    @Test
    void fp8WeightsWithPerTensorScaleMatchTheirDequantizedValues(@TempDir Path tmp) throws IOException {
        // linear weights become E4M3 codes q with scale s = amax / 448; the reference stores s·q in float32
        Function<Tensor, float[][]> quantize = t -> {
            float[] v = t.toFloatArray();
            float amax = 0;
            for (float x : v) amax = Math.max(amax, Math.abs(x));
            float scale = amax / 448f;
            float[] codes = new float[v.length];
            float[] dequant = new float[v.length];
            for (int i = 0; i < v.length; i++) {
                byte q = Numerics.floatToE4m3(v[i] / scale);
                codes[i] = q;
                dequant[i] = Numerics.e4m3ToFloat(q) * scale;
            }
            return new float[][] {codes, dequant, {scale}};
        };
        Function<Tensor, Boolean> isLinear = t -> t.rank() == 2 && !t.name().contains("embeddings");
        Path fp8 = rewrite(tmp, "fp8", t -> {
            if (!isLinear.apply(t)) return new Tensor[] {t};
            float[][] q = quantize.apply(t);
            byte[] bytes = new byte[q[0].length];
            for (int i = 0; i < bytes.length; i++) bytes[i] = (byte) q[0][i];
            String scaleName = t.name().replace(".weight", ".weight_scale");
            return new Tensor[] {new Tensor(t.name(), DType.F8_E4M3, t.shape(), MemorySegment.ofArray(bytes)),
                    Tensor.ofFloats(scaleName, q[2])};
        });
        Path dequantized = rewrite(tmp, "dequant", t -> isLinear.apply(t)
                ? new Tensor[] {Tensor.ofFloats(t.name(), quantize.apply(t)[1], t.shape())}
                : new Tensor[] {t});
        float[] a = logits(fp8), b = logits(dequantized);
        assertEquals(b.length, a.length);
        double err = Fixtures.maxAbs(a, b);
        assertTrue(err < 1e-4, "fp8 with scale vs its dequantized float32 values: " + err);
        // and quantization itself costs only a little accuracy against the bf16 original
        double drift = Fixtures.maxAbs(a, logits(Fixtures.model(FIXTURE)));
        assertTrue(drift > 1e-4 && drift < 1.0, "fp8 drift from bf16: " + drift);
    }

    @Test
    void fp8WithoutScaleIsRefused(@TempDir Path tmp) throws IOException {
        Path dir = rewrite(tmp, "noscale", t -> t.name().equals("lm_head.weight")
                ? new Tensor[] {new Tensor(t.name(), DType.F8_E4M3, t.shape(), MemorySegment.ofArray(new byte[(int) t.numel()]))}
                : new Tensor[] {t});
        var e = org.junit.jupiter.api.Assertions.assertThrows(dev.nemoh.io.CheckpointException.class, () -> NemotronHModel.load(dir));
        assertTrue(e.getMessage().contains("lm_head.weight_scale"), e.getMessage());
    }
}
