package dev.nemoh.io;

import dev.nemoh.config.BlockWeights;
import dev.nemoh.config.ConfigException;
import dev.nemoh.config.LayerType;
import dev.nemoh.config.LinearSpec;
import dev.nemoh.config.NemotronHConfig;
import dev.nemoh.config.TensorSpec;
import dev.nemoh.config.WeightSchema;
import dev.nemoh.tensor.Tensor;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * llama.cpp's {@code nemotron_h} architecture in GGUF: the metadata keys that describe a Nemotron-H model and the
 * place of every checkpoint tensor ({@link WeightSchema}) in the file, as llama.cpp's {@code convert_hf_to_gguf.py}
 * writes them and {@code llama-model.cpp} reads them. Both {@code export-gguf} and {@code --model FILE.gguf} use this
 * map. Mamba, attention and MLP layers are told apart by the per-layer {@code attention.head_count_kv} and
 * {@code feed_forward_length} arrays (0 where a layer has none); {@code ssm_a} holds {@code A = -exp(A_log)} as
 * [1, heads]; {@code ssm_d} is [1, heads]; the conv1d weight drops its unit dimension; the gated norm's weight is
 * [groups, inner / groups]. Every other tensor keeps its values in row-major order, dimensions reversed.
 */
public final class NemotronHGguf {
    private NemotronHGguf() {}

    public static final String ARCH = "nemotron_h";
    public static final String ARCH_MOE = "nemotron_h_moe";

    /** How a checkpoint tensor's values are stored in the GGUF tensor. */
    public enum Layout {
        /** a weight [out, in], in the file's matrix type */
        MATRIX,
        /** float32 values as the checkpoint holds them */
        FLOATS,
        /** float32 {@code -exp(A_log)} */
        NEG_EXP
    }

    /**
     * One tensor: its GGUF name, the checkpoint tensor it holds, how, and its GGUF dimensions (innermost first).
     * {@code always}: written even when the checkpoint lacks the (optional) tensor, as zeros (llama.cpp requires the
     * conv1d bias).
     */
    public record Entry(String gguf, TensorSpec spec, Layout layout, long[] ne, boolean always) {}

    /** Every tensor of a model of config c, in the order the converter writes them. */
    public static List<Entry> tensors(NemotronHConfig c) {
        if (c.layers.contains(LayerType.MOE)) {
            throw new IllegalArgumentException("GGUF covers dense Nemotron-H (Mamba, attention and MLP layers); this model"
                    + " has MoE layers (llama.cpp's nemotron_h_moe), which nemoh does not map yet");
        }
        WeightSchema schema = WeightSchema.of(c);
        List<Entry> all = new ArrayList<>();
        all.add(matrix("token_embd.weight", schema.embeddings));
        for (WeightSchema.Layer layer : schema.layers) {
            String b = "blk." + layer.index() + ".";
            all.add(floats(b + "attn_norm.weight", layer.norm(), c.hiddenSize));
            switch (layer.mixer()) {
                case BlockWeights.Mamba2 m -> {
                    int heads = c.mambaNumHeads, inner = c.mambaIntermediateSize();
                    linear(all, b + "ssm_in", m.inProj());
                    all.add(floats(b + "ssm_conv1d.weight", m.convWeight(), c.convKernel, c.convDim()));
                    all.add(new Entry(b + "ssm_conv1d.bias", m.convBias(), Layout.FLOATS, new long[] {c.convDim()}, true));
                    all.add(floats(b + "ssm_dt.bias", m.dtBias(), heads));
                    all.add(new Entry(b + "ssm_a", m.aLog(), Layout.NEG_EXP, new long[] {1, heads}, false));
                    all.add(floats(b + "ssm_d", m.d(), 1, heads));
                    all.add(floats(b + "ssm_norm.weight", m.norm(), inner / c.nGroups, c.nGroups));
                    linear(all, b + "ssm_out", m.outProj());
                }
                case BlockWeights.Attention a -> {
                    linear(all, b + "attn_q", a.qProj());
                    linear(all, b + "attn_k", a.kProj());
                    linear(all, b + "attn_v", a.vProj());
                    linear(all, b + "attn_output", a.oProj());
                }
                case BlockWeights.Mlp m -> {
                    linear(all, b + "ffn_up", m.upProj());
                    linear(all, b + "ffn_down", m.downProj());
                }
                case BlockWeights.Moe m -> throw new IllegalStateException("MoE layers are refused above");
            }
        }
        all.add(floats("output_norm.weight", schema.normF, c.hiddenSize));
        // without output.weight, llama.cpp reads the output projection from token_embd, as nemoh does for tied models
        all.add(matrix("output.weight", schema.lmHead.weight()));
        return all;
    }

    private static Entry matrix(String name, TensorSpec spec) {
        return new Entry(name, spec, Layout.MATRIX, new long[] {spec.dim(1), spec.dim(0)}, false);
    }

    private static Entry floats(String name, TensorSpec spec, long... ne) {
        return new Entry(name, spec, Layout.FLOATS, ne, false);
    }

    /** A linear layer's weight, and its bias (float32) where the checkpoint has one. */
    private static void linear(List<Entry> all, String name, LinearSpec spec) {
        all.add(matrix(name + ".weight", spec.weight()));
        all.add(floats(name + ".bias", spec.bias(), spec.out()));
    }

    // ------------------------------------------------------------------ reading

    /** The model config a nemotron_h GGUF file's metadata describes. */
    public static NemotronHConfig config(GgufFile g) {
        Object arch = g.get("general.architecture");
        if (ARCH_MOE.equals(arch)) {
            throw new CheckpointException(g.path() + " is a nemotron_h_moe (MoE) GGUF; nemoh reads dense nemotron_h GGUF"
                    + " files only for now: run the Hugging Face checkpoint with --model DIR");
        }
        if (!ARCH.equals(arch)) {
            throw new CheckpointException(g.path() + " holds architecture \"" + arch + "\"; nemoh runs nemotron_h GGUF files");
        }
        String a = ARCH + ".";
        int n = Math.toIntExact(g.integer(a + "block_count", -1));
        if (n <= 0) throw new CheckpointException(g.path() + " has no " + a + "block_count");
        int[] ff = perLayer(g, a + "feed_forward_length", n);
        int[] kv = perLayer(g, a + "attention.head_count_kv", n);
        List<LayerType> layers = new ArrayList<>(n);
        int intermediate = 0, kvHeads = 0;
        for (int i = 0; i < n; i++) {
            layers.add(kv[i] > 0 ? LayerType.ATTENTION : ff[i] > 0 ? LayerType.MLP : LayerType.MAMBA);
            intermediate = same(g, "feed_forward_length", intermediate, ff[i]);
            kvHeads = same(g, "attention.head_count_kv", kvHeads, kv[i]);
        }
        int hidden = Math.toIntExact(g.integer(a + "embedding_length", -1));
        int heads = Math.toIntExact(g.integer(a + "attention.head_count", 1));
        int inner = Math.toIntExact(g.integer(a + "ssm.inner_size", -1));
        int mambaHeads = Math.toIntExact(g.integer(a + "ssm.time_step_rank", -1));
        long[] embd = g.dims("token_embd.weight");
        if (embd == null || embd.length != 2) throw new CheckpointException("tensor token_embd.weight is missing from " + g.path());
        if (mambaHeads <= 0 || inner % mambaHeads != 0) {
            throw new CheckpointException(g.path() + ": " + a + "ssm.inner_size " + inner + " is not a multiple of "
                    + a + "ssm.time_step_rank " + mambaHeads);
        }
        try {
            return NemotronHConfig.builder()
                    .vocabSize(Math.toIntExact(embd[1]))
                    .hiddenSize(hidden)
                    .layerTypes(layers)
                    .tieWordEmbeddings(!g.tensors().containsKey("output.weight"))
                    .layerNormEpsilon(g.require(a + "attention.layer_norm_rms_epsilon", Double.class))
                    .maxPositionEmbeddings(Math.toIntExact(g.integer(a + "context_length", 4096)))
                    .eosTokenIds(List.of(Math.toIntExact(g.integer("tokenizer.ggml.eos_token_id", 2))))
                    .attentionHeads(heads, Math.max(kvHeads, 1), Math.toIntExact(g.integer(a + "attention.key_length", hidden / heads)))
                    .intermediateSize(Math.max(intermediate, 1))
                    .mamba(mambaHeads, inner / mambaHeads, Math.toIntExact(g.integer(a + "ssm.state_size", -1)),
                            Math.toIntExact(g.integer(a + "ssm.group_count", 1)))
                    .convKernel(Math.toIntExact(g.integer(a + "ssm.conv_kernel", 4)))
                    .build();
        } catch (ConfigException e) {
            throw new CheckpointException(g.path() + ": its metadata does not describe a valid model: " + e.getMessage());
        }
    }

    /** A per-layer key: an array of n integers, or one integer for every layer. */
    private static int[] perLayer(GgufFile g, String key, int n) {
        Object v = g.get(key);
        int[] out = new int[n];
        if (v instanceof Long l) {
            java.util.Arrays.fill(out, Math.toIntExact(l));
        } else if (v instanceof List<?> list && list.size() == n && list.stream().allMatch(Long.class::isInstance)) {
            for (int i = 0; i < n; i++) out[i] = Math.toIntExact((Long) list.get(i));
        } else {
            throw new CheckpointException(g.path() + ": " + key + " must be an integer or an array of " + n + " integers");
        }
        return out;
    }

    private static int same(GgufFile g, String key, int seen, int v) {
        if (v > 0 && seen > 0 && v != seen) {
            throw new CheckpointException(g.path() + ": " + key + " differs between layers (" + seen + " and " + v
                    + "); nemoh runs models whose layers of a kind share one width");
        }
        return v > 0 ? v : seen;
    }

    /**
     * The file's tensors under their checkpoint names and shapes: matrices and float32 vectors are views into the
     * mapping; {@code ssm_a} becomes {@code A_log = log(-A)} (a few floats on the heap).
     */
    public static Map<String, Tensor> checkpointTensors(GgufFile g, NemotronHConfig c) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (Entry e : tensors(c)) {
            if (g.dims(e.gguf()) == null) {
                if (e.spec().required()) throw new CheckpointException("tensor " + e.gguf() + " is missing from " + g.path());
                continue;
            }
            long[] ne = g.dims(e.gguf());
            if (Tensor.numel(ne) != Tensor.numel(e.ne()) || (e.layout() == Layout.MATRIX && ne[0] != e.ne()[0])) {
                throw new CheckpointException(g.path() + ": tensor " + e.gguf() + " has dimensions " + java.util.Arrays.toString(ne)
                        + " but the metadata implies " + java.util.Arrays.toString(e.ne()) + "; the file is inconsistent");
            }
            Tensor t = g.tensor(e.gguf(), e.spec().shape());
            if (e.layout() == Layout.NEG_EXP) {
                float[] a = t.toFloatArray();
                for (int k = 0; k < a.length; k++) a[k] = (float) Math.log(-a[k]);
                t = Tensor.ofFloats(e.spec().name(), a, e.spec().shape());
            }
            out.put(e.spec().name(), t);
        }
        return out;
    }

    /** Whether a --model path names a GGUF file rather than a model directory. */
    public static boolean isGguf(Path path) {
        return path.getFileName() != null && path.getFileName().toString().toLowerCase(java.util.Locale.ROOT).endsWith(".gguf")
                && !java.nio.file.Files.isDirectory(path);
    }
}
