package dev.nemoh.export;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.nemoh.config.LayerType;
import dev.nemoh.config.TensorSpec;
import dev.nemoh.config.NemotronHConfig;
import dev.nemoh.io.Checkpoint;
import dev.nemoh.io.CheckpointException;
import dev.nemoh.io.GgufWriter;
import dev.nemoh.io.NemotronHGguf;
import dev.nemoh.io.GgufWriter.TensorType;
import dev.nemoh.kernels.DenseWeights;
import dev.nemoh.kernels.Parallel;
import dev.nemoh.kernels.QuantizedWeights;
import dev.nemoh.kernels.WeightMatrix;
import dev.nemoh.model.Linear;
import dev.nemoh.model.WeightFormat;
import dev.nemoh.tensor.DType;
import dev.nemoh.tensor.Numerics;
import dev.nemoh.tensor.Tensor;
import dev.nemoh.tokenizer.BpeTrainer;
import dev.nemoh.tokenizer.Tokenizer;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.function.Consumer;

/**
 * Exports a Hugging Face Nemotron-H directory (config.json, safetensors, tokenizer.json) to a GGUF file that
 * llama.cpp loads as architecture {@code nemotron_h}. Tensor names, shapes and metadata keys follow what llama.cpp
 * reads for that architecture: Mamba, attention and MLP layers are told apart by per-layer
 * {@code head_count_kv} and {@code feed_forward_length} arrays (0 where a layer has none); {@code ssm_a} holds
 * {@code A = -exp(A_log)} as [1, heads]; {@code ssm_d} is [1, heads]; the conv1d weight drops its unit dimension;
 * the gated norm's weight is [groups, inner / groups]. As in llama.cpp's own converter, norms, biases, the conv1d
 * weight and the SSM parameters stay float32 and only matrices take the chosen type (a Q8_0 matrix whose rows do not
 * split into 32-value blocks falls back to F16). The tokenizer is written as GGML's byte-level BPE ("gpt2").
 */
public final class GgufExport {
    private GgufExport() {}

    public static final String ARCH = NemotronHGguf.ARCH;

    /** GGUF token types (llama.cpp's llama_token_type). */
    static final int NORMAL = 1, CONTROL = 3, USER_DEFINED = 4, UNUSED = 5;

    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** What was written. */
    public record Summary(int tensors, long bytes) {}

    /**
     * Writes {@code out} from the model in {@code dir}, matrices as {@code type} (F32, BF16 or Q8_0).
     * {@code tokenizerPre} names llama.cpp's pre-tokenizer; null recognises it from tokenizer.json.
     */
    public static Summary export(Path dir, Path out, TensorType type, String tokenizerPre) {
        if (type == TensorType.F16) throw new IllegalArgumentException("export to F16 is not offered; use bf16, f32 or q8_0");
        NemotronHConfig c = NemotronHConfig.load(dir);
        if (c.layers.contains(LayerType.MOE)) {
            throw new IllegalArgumentException("export-gguf handles dense Nemotron-H (Mamba, attention and MLP layers);"
                    + " this model has MoE layers (llama.cpp's nemotron_h_moe), which are not exported yet");
        }
        if (c.useBias) {
            throw new IllegalArgumentException("llama.cpp's nemotron_h has no biases on the Mamba input and output"
                    + " projections, but this config sets use_bias = true");
        }
        Tokenizer tokenizer = Tokenizer.load(dir);
        GgufWriter w = new GgufWriter();
        try (Checkpoint ckpt = Checkpoint.open(dir)) {
            putModelKeys(w, c, type, dir.toAbsolutePath().normalize().getFileName().toString());
            putTokenizerKeys(w, c, tokenizer, dir, tokenizerPre);
            addTensors(w, c, ckpt, type);
            w.write(out);
        }
        try {
            return new Summary(w.tensorCount(), java.nio.file.Files.size(out));
        } catch (IOException e) {
            throw new CheckpointException("cannot read back " + out + ": " + e.getMessage(), e);
        }
    }

    /** GGUF's general.file_type (llama_ftype) for files whose matrices are {@code type}. */
    static int fileType(TensorType type) {
        return switch (type) {
            case F32 -> 0;
            case F16 -> 1;
            case Q8_0 -> 7;
            case BF16 -> 32;
        };
    }

    private static void putModelKeys(GgufWriter w, NemotronHConfig c, TensorType type, String name) {
        String a = ARCH + ".";
        int n = c.numLayers();
        int[] ff = new int[n];
        int[] kvHeads = new int[n];
        for (int i = 0; i < n; i++) {
            ff[i] = c.layers.get(i) == LayerType.MLP ? c.intermediateSize : 0;
            kvHeads[i] = c.layers.get(i) == LayerType.ATTENTION ? c.numKeyValueHeads : 0;
        }
        w.putString("general.architecture", ARCH)
                .putString("general.name", name)
                .putUint32("general.file_type", fileType(type))
                .putUint32("general.quantization_version", 2)
                .putUint32(a + "block_count", n)
                .putUint32(a + "context_length", c.maxPositionEmbeddings)
                .putUint32(a + "embedding_length", c.hiddenSize)
                .putInt32Array(a + "feed_forward_length", ff)
                .putUint32(a + "attention.head_count", c.numAttentionHeads)
                .putInt32Array(a + "attention.head_count_kv", kvHeads)
                .putUint32(a + "attention.key_length", c.headDim)
                .putUint32(a + "attention.value_length", c.headDim)
                .putFloat32(a + "attention.layer_norm_epsilon", (float) c.layerNormEpsilon)
                .putFloat32(a + "attention.layer_norm_rms_epsilon", (float) c.layerNormEpsilon)
                .putUint32(a + "ssm.conv_kernel", c.convKernel)
                .putUint32(a + "ssm.state_size", c.ssmStateSize)
                .putUint32(a + "ssm.group_count", c.nGroups)
                .putUint32(a + "ssm.inner_size", c.mambaIntermediateSize())
                .putUint32(a + "ssm.time_step_rank", c.mambaNumHeads);
    }

    // ------------------------------------------------------------------ tokenizer

    private static void putTokenizerKeys(GgufWriter w, NemotronHConfig c, Tokenizer t, Path dir, String pre) {
        JsonNode json;
        try {
            json = new ObjectMapper().readTree(dir.resolve("tokenizer.json").toFile());
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read " + dir.resolve("tokenizer.json") + ": " + e.getMessage());
        }
        JsonNode model = json.path("model");
        if (!"BPE".equals(model.path("type").asText()) || model.path("byte_fallback").asBoolean(false)) {
            throw new IllegalArgumentException("GGUF export writes byte-level BPE tokenizers only; tokenizer.json has a "
                    + model.path("type").asText("?") + " model" + (model.path("byte_fallback").asBoolean(false) ? " with byte fallback" : ""));
        }
        if (t.vocabSize() > c.vocabSize) {
            throw new IllegalArgumentException("tokenizer.json has " + t.vocabSize() + " tokens but config.json's vocab_size is "
                    + c.vocabSize);
        }
        List<String> tokens = new ArrayList<>(c.vocabSize);
        int[] types = new int[c.vocabSize];
        for (int id = 0; id < c.vocabSize; id++) {
            String s = t.token(id);
            tokens.add(s != null ? s : "[PAD" + id + "]");
            types[id] = s == null ? UNUSED : t.isSpecial(id) ? CONTROL : t.isAdded(id) ? USER_DEFINED : NORMAL;
        }
        List<String> merges = new ArrayList<>();
        for (JsonNode m : model.path("merges")) {
            merges.add(m.isArray() ? m.get(0).asText() + " " + m.get(1).asText() : m.asText());
        }
        int bos = t.bosId() >= 0 ? t.bosId() : c.bosTokenId;
        int eos = t.eosId() >= 0 ? t.eosId() : c.eosTokenIds.getFirst();
        int[] probe = t.encode("a", true);
        int[] plain = t.encode("a", false);
        w.putString("tokenizer.ggml.model", "gpt2")
                .putString("tokenizer.ggml.pre", pre != null ? pre : preTokenizerName(json.path("pre_tokenizer")))
                .putStringArray("tokenizer.ggml.tokens", tokens)
                .putInt32Array("tokenizer.ggml.token_type", types)
                .putStringArray("tokenizer.ggml.merges", merges)
                .putUint32("tokenizer.ggml.bos_token_id", bos)
                .putUint32("tokenizer.ggml.eos_token_id", eos)
                .putUint32("tokenizer.ggml.padding_token_id", c.padTokenId)
                .putBool("tokenizer.ggml.add_bos_token", probe.length > plain.length && probe[0] == bos)
                .putBool("tokenizer.ggml.add_eos_token", probe.length > plain.length && probe[probe.length - 1] == eos);
        String unk = t.specialTokens().get("unk_token");
        if (unk != null && t.id(unk) >= 0) w.putUint32("tokenizer.ggml.unknown_token_id", t.id(unk));
        if (t.chatTemplate() != null) w.putString("tokenizer.chat_template", t.chatTemplate());
    }

    /**
     * llama.cpp's name for the pre-tokenizer of tokenizer.json: "tekken" for the Nemotron-H / Mistral NeMo split
     * regex, "gpt-2" for a plain ByteLevel one with GPT-2's built-in regex.
     */
    static String preTokenizerName(JsonNode pre) {
        List<String> regexes = new ArrayList<>();
        boolean byteLevelRegex = false;
        List<JsonNode> steps = new ArrayList<>();
        if ("Sequence".equals(pre.path("type").asText())) pre.path("pretokenizers").forEach(steps::add); else steps.add(pre);
        for (JsonNode s : steps) {
            switch (s.path("type").asText()) {
                case "Split" -> regexes.add(s.path("pattern").path("Regex").asText(s.path("pattern").path("String").asText()));
                case "ByteLevel" -> byteLevelRegex |= s.path("use_regex").asBoolean(true);
                default -> { }
            }
        }
        if (regexes.equals(List.of(BpeTrainer.PreTokenization.TEKKEN_REGEX)) && !byteLevelRegex) return "tekken";
        if (regexes.isEmpty() && byteLevelRegex) return "gpt-2";
        throw new IllegalArgumentException("tokenizer.json's pre-tokenizer (" + (regexes.isEmpty() ? pre.path("type").asText() : regexes.getFirst())
                + ") is not one nemoh can name for llama.cpp; pass --tokenizer-pre NAME (a tokenizer.ggml.pre value llama.cpp knows)");
    }

    // ------------------------------------------------------------------ tensors

    /** The checkpoint's tensors under llama.cpp's {@code nemotron_h} names ({@link NemotronHGguf#tensors}). */
    private static void addTensors(GgufWriter w, NemotronHConfig c, Checkpoint ckpt, TensorType type) {
        for (NemotronHGguf.Entry e : NemotronHGguf.tensors(c)) {
            Tensor t = ckpt.find(e.spec());
            if (t == null && !e.always()) continue;
            switch (e.layout()) {
                case MATRIX -> matrix(w, e.gguf(), ckpt, e.spec(), type);
                case FLOATS -> floats(w, e.gguf(), t == null ? new float[(int) e.spec().numel()] : t.toFloatArray(), e.ne());
                case NEG_EXP -> {
                    float[] a = t.toFloatArray();
                    for (int k = 0; k < a.length; k++) a[k] = (float) -Math.exp(a[k]);
                    floats(w, e.gguf(), a, e.ne());
                }
            }
        }
    }

    private static void floats(GgufWriter w, String name, float[] values, long... ne) {
        w.add(name, TensorType.F32, ne, seg -> MemorySegment.copy(values, 0, seg, FLOAT, 0, values.length));
    }

    /** A weight [rows, cols] as GGML {cols, rows} of {@code type}, FP8 scales applied. */
    private static void matrix(GgufWriter w, String name, Checkpoint ckpt, TensorSpec spec, TensorType type) {
        Tensor t = ckpt.get(spec);
        float scale = Linear.weightScale(ckpt, spec, t);
        int rows = spec.dim(0), cols = spec.dim(1);
        TensorType as = type == TensorType.Q8_0 && cols % QuantizedWeights.BLOCK != 0 ? TensorType.F16 : type;
        w.add(name, as, new long[] {cols, rows}, encode(Linear.weights(t, WeightFormat.AS_STORED), scale, as));
    }

    /** Writes the rows of {@code m} (times {@code scale}) as {@code type}, in parallel chunks of rows. */
    static Consumer<MemorySegment> encode(WeightMatrix m, float scale, TensorType type) {
        int rows = m.rows(), cols = m.cols();
        long rowBytes = type.rowBytes(cols);
        return seg -> {
            if (type == TensorType.BF16 && scale == 1f && m instanceof DenseWeights d && d.tensor().dtype() == DType.BF16) {
                MemorySegment.copy(d.tensor().data(), 0, seg, 0, seg.byteSize());
                return;
            }
            int chunk = Math.max(1, (1 << 16) / cols);
            Parallel.forEach((rows + chunk - 1) / chunk, (long) chunk * cols, ci -> {
                int r0 = ci * chunk;
                int n = Math.min(chunk, rows - r0);
                float[] buf = new float[n * cols];
                m.widen(r0, n, buf);
                if (scale != 1f) for (int k = 0; k < buf.length; k++) buf[k] *= scale;
                for (int r = 0; r < n; r++) encodeRow(buf, r * cols, cols, type, seg, (r0 + r) * rowBytes);
            });
        };
    }

    private static void encodeRow(float[] src, int off, int n, TensorType type, MemorySegment dst, long pos) {
        switch (type) {
            case F32 -> MemorySegment.copy(src, off, dst, FLOAT, pos, n);
            case F16 -> {
                for (int i = 0; i < n; i++) dst.set(SHORT, pos + 2L * i, Float.floatToFloat16(src[off + i]));
            }
            case BF16 -> {
                for (int i = 0; i < n; i++) dst.set(SHORT, pos + 2L * i, Numerics.floatToBf16(src[off + i]));
            }
            case Q8_0 -> {
                for (int b = 0; b < n / QuantizedWeights.BLOCK; b++) {
                    long block = pos + (long) b * type.blockBytes;
                    float d = QuantizedWeights.quantizeQ8Block(src, off + b * QuantizedWeights.BLOCK, dst, block + 2);
                    dst.set(SHORT, block, Float.floatToFloat16(d));
                }
            }
        }
    }

    /** Parses a CLI type name: bf16, f32 or q8_0. */
    public static TensorType parseType(String s) {
        return switch (s.toLowerCase(Locale.ROOT).replace('-', '_')) {
            case "bf16" -> TensorType.BF16;
            case "f32" -> TensorType.F32;
            case "q8_0", "q8" -> TensorType.Q8_0;
            default -> throw new IllegalArgumentException("unknown GGUF type \"" + s + "\"; use bf16, f32 or q8_0");
        };
    }
}
