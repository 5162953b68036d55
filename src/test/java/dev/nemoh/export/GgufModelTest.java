package dev.nemoh.export;

import dev.nemoh.io.CheckpointException;
import dev.nemoh.io.GgufWriter;
import dev.nemoh.io.GgufWriter.TensorType;
import dev.nemoh.kernels.GgmlWeights;
import dev.nemoh.model.NemotronHModel;
import dev.nemoh.model.TimeStepClamp;
import dev.nemoh.model.WeightFormat;
import dev.nemoh.tensor.DType;
import dev.nemoh.tokenizer.Tokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code --model FILE.gguf} against llama.cpp: the logits nemoh computes on a GGUF file against those llama.cpp
 * computed on the same file ({@code tools/llamacpp/make_gguf_refs.sh}, prompt 1,5,17,42,100,7,250,33): nemoh-tiny
 * exported as F32, BF16 and Q8_0 (exported again here; the export is deterministic), and a Q4_K_M file that
 * llama-quantize made from an export (Q4_K and Q6_K matrices). Measured values and bounds: README, "GGUF files".
 */
class GgufModelTest {
    static final Path TINY = Path.of("models/nemoh-tiny");
    static final int[] IDS = {1, 5, 17, 42, 100, 7, 250, 33};

    static float[] llamaCpp(String name) throws IOException {
        try (InputStream in = GgufModelTest.class.getResourceAsStream("/gguf/llamacpp-" + name + ".f32")) {
            byte[] b = in.readAllBytes();
            float[] v = new float[b.length / 4];
            ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(v);
            return v;
        }
    }

    static Path resource(String name, Path dir) throws IOException {
        Path p = dir.resolve(name);
        try (InputStream in = GgufModelTest.class.getResourceAsStream("/gguf/" + name)) {
            Files.copy(in, p, StandardCopyOption.REPLACE_EXISTING);
        }
        return p;
    }

    /** ‖ours − theirs‖ / ‖theirs‖, after checking every position's top-1 token is the same. */
    static double compare(float[] ours, float[] theirs, int vocab) {
        assertEquals(theirs.length, ours.length);
        double num = 0, den = 0;
        for (int i = 0; i < ours.length; i++) {
            num += (ours[i] - theirs[i]) * (double) (ours[i] - theirs[i]);
            den += theirs[i] * (double) theirs[i];
        }
        for (int r = 0; r < ours.length / vocab; r++) {
            assertEquals(argmax(theirs, r * vocab, vocab), argmax(ours, r * vocab, vocab), "top-1 token at position " + r);
        }
        return Math.sqrt(num / den);
    }

    static int argmax(float[] v, int off, int n) {
        int best = 0;
        for (int i = 1; i < n; i++) if (v[off + i] > v[off + best]) best = i;
        return best;
    }

    static float[] logits(Path gguf) {
        try (NemotronHModel m = NemotronHModel.load(gguf)) {
            return m.forward(IDS, null);
        }
    }

    @ParameterizedTest
    @EnumSource(value = TensorType.class, names = {"F32", "BF16", "Q8_0"})
    void exportsOfTheTinyModelGiveLlamaCppsLogits(TensorType type, @TempDir Path dir) throws IOException {
        Path gguf = dir.resolve("tiny.gguf");
        GgufExport.export(TINY, gguf, type, null);
        double rel = compare(logits(gguf), llamaCpp("nemoh-tiny-" + type.name().toLowerCase()), 320);
        double bound = type == TensorType.F32 ? 6e-6 : 1e-6;
        assertTrue(rel < bound, type + ": relative difference to llama.cpp " + rel);
    }

    @Test
    void aQ4KMFileFromLlamaQuantizeGivesLlamaCppsLogits(@TempDir Path dir) throws IOException {
        Path gguf = resource("kq-q4_k_m.gguf", dir);
        try (NemotronHModel m = NemotronHModel.load(gguf)) {
            assertInstanceOf(GgmlWeights.class, m.lmHead.weight);
            assertEquals(DType.Q6_K, ((GgmlWeights) m.lmHead.weight).type(), "llama-quantize keeps output.weight in Q6_K");
            float[] ours = m.forward(IDS, null);
            double rel = compare(ours, llamaCpp("kq-q4_k_m"), 320);
            assertTrue(rel < 3e-6, "Q4_K_M: relative difference to llama.cpp " + rel);
            // a prompt and the same tokens decoded one at a time give the same last logits
            var cache = m.newCache();
            float[] last = null;
            for (int id : IDS) last = m.forward(new int[] {id}, cache);
            for (int v = 0; v < 320; v++) assertEquals(ours[7 * 320 + v], last[v], 1e-6, "decoded logit " + v);
        }
    }

    @Test
    void theTokenizerComesFromTheFile(@TempDir Path dir) {
        Path gguf = dir.resolve("tiny.gguf");
        GgufExport.export(TINY, gguf, TensorType.Q8_0, null);
        Tokenizer theirs = Tokenizer.load(gguf), ours = Tokenizer.load(TINY);
        for (String s : List.of("Hello, world", "  two  spaces\nand a newline", "<SPECIAL_10>System\nnumbers 12345")) {
            assertArrayEquals(ours.encode(s, true), theirs.encode(s, true), s);
        }
        assertEquals(ours.chatTemplate(), theirs.chatTemplate());
        assertEquals(ours.eosId(), theirs.eosId());
        assertEquals(ours.bosId(), theirs.bosId());
    }

    @Test
    void badFilesAndOptionsAreRefusedInOneLine(@TempDir Path dir) throws IOException {
        Path notGguf = dir.resolve("x.gguf");
        Files.writeString(notGguf, "this is not a GGUF file at all, just text");
        assertTrue(assertThrows(CheckpointException.class, () -> NemotronHModel.load(notGguf)).getMessage().contains("not a GGUF file"));

        Path moe = dir.resolve("moe.gguf");
        new GgufWriter().putString("general.architecture", "nemotron_h_moe").write(moe);
        assertTrue(assertThrows(CheckpointException.class, () -> NemotronHModel.load(moe)).getMessage().contains("nemotron_h_moe"));
        Path llama = dir.resolve("llama.gguf");
        new GgufWriter().putString("general.architecture", "llama").write(llama);
        assertTrue(assertThrows(CheckpointException.class, () -> NemotronHModel.load(llama)).getMessage().contains("\"llama\""));

        Path gguf = dir.resolve("tiny.gguf");
        GgufExport.export(TINY, gguf, TensorType.F32, null);
        var e = assertThrows(IllegalArgumentException.class, () -> NemotronHModel.load(gguf, TimeStepClamp.TRANSFORMERS, WeightFormat.Q8_0));
        assertTrue(e.getMessage().contains("drop --weights"), e.getMessage());

        // a tensor of a GGML type nemoh does not read (Q4_1, id 3) is named with its type
        byte[] b = Files.readAllBytes(gguf);
        int at = indexOf(b, "blk.0.ssm_in.weight".getBytes()) + "blk.0.ssm_in.weight".length();
        int dims = ByteBuffer.wrap(b, at, 4).order(ByteOrder.LITTLE_ENDIAN).getInt();
        ByteBuffer.wrap(b, at + 4 + 8 * dims, 4).order(ByteOrder.LITTLE_ENDIAN).putInt(3);
        Path q41 = dir.resolve("q41.gguf");
        Files.write(q41, b);
        var t = assertThrows(CheckpointException.class, () -> NemotronHModel.load(q41));
        assertTrue(t.getMessage().contains("blk.0.ssm_in.weight is Q4_1"), t.getMessage());
    }

    static int indexOf(byte[] b, byte[] s) {
        outer:
        for (int i = 0; i + s.length <= b.length; i++) {
            for (int j = 0; j < s.length; j++) if (b[i + j] != s[j]) continue outer;
            return i;
        }
        throw new AssertionError("not found");
    }
}
