package dev.nemoh.export;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.nemoh.io.Checkpoint;
import dev.nemoh.io.GgufReader;
import dev.nemoh.io.GgufWriter;
import dev.nemoh.io.GgufWriter.TensorType;
import dev.nemoh.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class GgufExportTest {
    static final Path TINY = Path.of("models/nemoh-tiny");

    @TempDir
    Path tmp;

    private GgufReader export(TensorType type) throws IOException {
        Path out = tmp.resolve("tiny-" + type + ".gguf");
        GgufExport.Summary s = GgufExport.export(TINY, out, type, null);
        GgufReader r = new GgufReader(out);
        assertEquals(s.tensors(), r.tensors.size());
        assertEquals(Files.size(out), s.bytes());
        return r;
    }

    @Test
    void headerAndMetadataDescribeTheHybridLayerStack() throws IOException {
        GgufReader r = export(TensorType.F32);
        assertEquals(3, r.version);
        assertEquals("nemotron_h", r.metadata.get("general.architecture"));
        assertEquals(0L, r.integer("general.file_type"));
        assertEquals(11L, r.integer("nemotron_h.block_count"));
        assertEquals(64L, r.integer("nemotron_h.embedding_length"));
        // layers: M - M * - M - M - * -  (Mamba: neither heads nor MLP; attention: kv heads; MLP: its width)
        assertEquals(List.of(0L, 128L, 0L, 0L, 128L, 0L, 128L, 0L, 128L, 0L, 128L), r.metadata.get("nemotron_h.feed_forward_length"));
        assertEquals(List.of(0L, 0L, 0L, 2L, 0L, 0L, 0L, 0L, 0L, 2L, 0L), r.metadata.get("nemotron_h.attention.head_count_kv"));
        assertEquals(9, r.types.get("nemotron_h.feed_forward_length"), "an array");
        assertEquals(4L, r.integer("nemotron_h.attention.head_count"));
        assertEquals(16L, r.integer("nemotron_h.attention.key_length"));
        assertEquals(1e-5f, (Float) r.metadata.get("nemotron_h.attention.layer_norm_rms_epsilon"));
        assertEquals(128L, r.integer("nemotron_h.ssm.inner_size"));
        assertEquals(8L, r.integer("nemotron_h.ssm.time_step_rank"));
        assertEquals(2L, r.integer("nemotron_h.ssm.group_count"));
        assertEquals(16L, r.integer("nemotron_h.ssm.state_size"));
        assertEquals(4L, r.integer("nemotron_h.ssm.conv_kernel"));

        assertEquals("gpt2", r.metadata.get("tokenizer.ggml.model"));
        assertEquals("tekken", r.metadata.get("tokenizer.ggml.pre"));
        List<?> tokens = (List<?>) r.metadata.get("tokenizer.ggml.tokens");
        assertEquals(320, tokens.size());
        assertEquals("<s>", tokens.get(1));
        assertEquals("<think>", tokens.get(13));
        List<?> types = (List<?>) r.metadata.get("tokenizer.ggml.token_type");
        assertEquals(List.of(3L, 3L, 3L), types.subList(0, 3), "special added tokens are CONTROL");
        assertEquals(4L, types.get(13), "non-special added tokens are USER_DEFINED");
        assertEquals(1L, types.get(300), "vocabulary tokens are NORMAL");
        var json = new ObjectMapper().readTree(TINY.resolve("tokenizer.json").toFile());
        List<?> merges = (List<?>) r.metadata.get("tokenizer.ggml.merges");
        assertEquals(json.path("model").path("merges").size(), merges.size());
        var first = json.path("model").path("merges").get(0);
        assertEquals(first.isArray() ? first.get(0).asText() + " " + first.get(1).asText() : first.asText(), merges.getFirst());
        assertEquals(1L, r.integer("tokenizer.ggml.bos_token_id"));
        assertEquals(2L, r.integer("tokenizer.ggml.eos_token_id"));
        assertEquals(true, r.metadata.get("tokenizer.ggml.add_bos_token"));
        assertTrue(((String) r.metadata.get("tokenizer.chat_template")).contains("<SPECIAL_11>"));
    }

    @Test
    void tensorsHaveLlamaCppNamesShapesAndTransforms() throws IOException {
        GgufReader r = export(TensorType.F32);
        for (GgufReader.TensorInfo t : r.tensors.values()) assertEquals(0, t.offset() % GgufWriter.ALIGNMENT, t.name());
        assertEquals(0, r.dataStart % GgufWriter.ALIGNMENT);
        assertEquals(64, r.tensors.size(), "embeddings, 11 norms, 4 × 8 Mamba, 2 × 4 attention, 5 × 2 MLP, norm, output");
        assertArrayEquals(new long[] {64, 320}, r.tensors.get("token_embd.weight").ne());
        assertArrayEquals(new long[] {64, 328}, r.tensors.get("blk.0.ssm_in.weight").ne());
        assertArrayEquals(new long[] {4, 192}, r.tensors.get("blk.0.ssm_conv1d.weight").ne());
        assertArrayEquals(new long[] {1, 8}, r.tensors.get("blk.0.ssm_a").ne());
        assertArrayEquals(new long[] {1, 8}, r.tensors.get("blk.0.ssm_d").ne());
        assertArrayEquals(new long[] {64, 2}, r.tensors.get("blk.0.ssm_norm.weight").ne());
        assertArrayEquals(new long[] {64, 32}, r.tensors.get("blk.3.attn_k.weight").ne());
        assertArrayEquals(new long[] {128, 64}, r.tensors.get("blk.1.ffn_down.weight").ne());
        assertTrue(r.tensors.containsKey("output.weight") && r.tensors.containsKey("output_norm.weight"));
        try (Checkpoint ckpt = Checkpoint.open(TINY)) {
            float[] aLog = ckpt.get("backbone.layers.5.mixer.A_log").toFloatArray();
            float[] a = floats(r.data("blk.5.ssm_a"));
            for (int h = 0; h < aLog.length; h++) assertEquals((float) -Math.exp(aLog[h]), a[h], 0f);
            assertArrayEquals(ckpt.get("backbone.layers.0.mixer.conv1d.weight").toFloatArray(), floats(r.data("blk.0.ssm_conv1d.weight")));
            assertArrayEquals(ckpt.get("backbone.layers.0.mixer.norm.weight").toFloatArray(), floats(r.data("blk.0.ssm_norm.weight")));
            assertArrayEquals(ckpt.get("backbone.layers.3.mixer.q_proj.weight").toFloatArray(), floats(r.data("blk.3.attn_q.weight")),
                    "bf16 widened exactly to f32, row-major as stored");
            assertArrayEquals(ckpt.get("lm_head.weight").toFloatArray(), floats(r.data("output.weight")));
        }
    }

    @Test
    void bf16MatricesAreTheCheckpointsBytesAndSmallTensorsStayF32() throws IOException {
        GgufReader r = export(TensorType.BF16);
        assertEquals(32L, r.integer("general.file_type"));
        assertEquals(30, r.tensors.get("blk.0.ssm_in.weight").type());
        assertEquals(0, r.tensors.get("blk.0.ssm_conv1d.weight").type());
        assertEquals(0, r.tensors.get("blk.0.ssm_norm.weight").type());
        try (Checkpoint ckpt = Checkpoint.open(TINY)) {
            for (String[] pair : new String[][] {{"token_embd.weight", "backbone.embeddings.weight"},
                    {"blk.9.attn_output.weight", "backbone.layers.9.mixer.o_proj.weight"}}) {
                Tensor t = ckpt.get(pair[1]);
                assertEquals(t.data().asByteBuffer().order(ByteOrder.LITTLE_ENDIAN), r.data(pair[0]), pair[0]);
            }
        }
    }

    @Test
    void q8_0BlocksHoldAHalfPrecisionScaleAndRoundedQuants() throws IOException {
        GgufReader r = export(TensorType.Q8_0);
        assertEquals(7L, r.integer("general.file_type"));
        assertEquals(8, r.tensors.get("blk.0.ssm_out.weight").type());
        try (Checkpoint ckpt = Checkpoint.open(TINY)) {
            float[] w = ckpt.get("backbone.layers.0.mixer.out_proj.weight").toFloatArray(); // [64, 128]
            ByteBuffer q = r.data("blk.0.ssm_out.weight");
            assertEquals(64 * 128 / 32 * 34, q.remaining());
            for (int block = 0; block < w.length / 32; block++) {
                float amax = 0;
                for (int i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(w[block * 32 + i]));
                float d = Float.float16ToFloat(q.getShort(block * 34));
                assertEquals(Float.float16ToFloat(Float.floatToFloat16(amax / 127f)), d, 0f);
                for (int i = 0; i < 32; i++) {
                    int quant = q.get(block * 34 + 2 + i);
                    assertEquals(Math.round(w[block * 32 + i] * 127f / amax), quant, 1, "block " + block + " value " + i);
                    // half a step of the float32 scale the quants were rounded with, plus the scale's f16 rounding
                    float exact = amax / 127f;
                    assertEquals(w[block * 32 + i], d * quant, exact * 0.5f + Math.abs(quant * (d - exact)) + 1e-6f * exact);
                }
            }
        }
    }

    @Test
    void writerLaysOutHeaderMetadataAndAlignedData() throws IOException {
        Path out = tmp.resolve("small.gguf");
        new GgufWriter()
                .putString("general.architecture", "x")
                .putBool("flag", true)
                .putFloat32("eps", 0.5f)
                .putInt32Array("arr", new int[] {-1, 7})
                .add("a", TensorType.F32, new long[] {3}, seg -> MemorySegment.copy(new float[] {1, 2, 3}, 0, seg,
                        java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0, 3))
                .add("b", TensorType.F16, new long[] {5, 1}, seg -> seg.fill((byte) 0x3c))
                .write(out);
        ByteBuffer raw = ByteBuffer.wrap(Files.readAllBytes(out)).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(GgufWriter.MAGIC, raw.getInt(0));
        assertEquals('G', raw.get(0));
        assertEquals('F', raw.get(3));
        assertEquals(3, raw.getInt(4));
        assertEquals(2L, raw.getLong(8), "tensor count");
        assertEquals(4L, raw.getLong(16), "metadata count");
        GgufReader r = new GgufReader(out);
        assertEquals(List.of(-1L, 7L), r.metadata.get("arr"));
        assertEquals(true, r.metadata.get("flag"));
        assertEquals(0L, r.tensors.get("a").offset());
        assertEquals(32L, r.tensors.get("b").offset(), "12 bytes of a, padded to the alignment");
        assertArrayEquals(new float[] {1, 2, 3}, floats(r.data("a")));
        assertEquals(r.dataStart + 32 + 32, r.fileSize(), "the last tensor is padded too");
        assertThrows(IllegalArgumentException.class, () -> new GgufWriter().add("q", TensorType.Q8_0, new long[] {48, 2}, s -> { }));
    }

    @Test
    void unsupportedModelsAndTokenizersAreRefusedWithAReason() {
        var moe = assertThrows(IllegalArgumentException.class,
                () -> GgufExport.export(dev.nemoh.Fixtures.model("moe-tiny"), tmp.resolve("m.gguf"), TensorType.BF16, null));
        assertTrue(moe.getMessage().contains("MoE"), moe.getMessage());
        assertFalse(Files.exists(tmp.resolve("m.gguf")));
        var mapper = new ObjectMapper();
        assertEquals("gpt-2", GgufExport.preTokenizerName(mapper.createObjectNode().put("type", "ByteLevel").put("use_regex", true)));
        var other = mapper.createObjectNode().put("type", "Split");
        other.putObject("pattern").put("Regex", "\\s+");
        var e = assertThrows(IllegalArgumentException.class, () -> GgufExport.preTokenizerName(other));
        assertTrue(e.getMessage().contains("--tokenizer-pre"), e.getMessage());
    }

    private static float[] floats(ByteBuffer b) {
        float[] out = new float[b.remaining() / 4];
        b.asFloatBuffer().get(out);
        return out;
    }
}
