package dev.nemoh.config;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The shape of a Nemotron-H model, read from a Hugging Face {@code config.json} in either form seen in the wild:
 * the legacy keys of the published checkpoints ({@code hybrid_override_pattern}, {@code mamba_n_groups}, ...) and
 * the current transformers keys ({@code layers_block_type}, {@code n_groups}, ...). Immutable; build custom hybrids
 * with {@link #builder()}.
 */
public final class NemotronHConfig {
    public final int vocabSize;
    public final int hiddenSize;
    public final List<LayerType> layers;
    public final boolean tieWordEmbeddings;
    public final double layerNormEpsilon;
    public final int maxPositionEmbeddings;
    public final int bosTokenId;
    public final int padTokenId;
    public final List<Integer> eosTokenIds;

    // attention
    public final int numAttentionHeads;
    public final int numKeyValueHeads;
    public final int headDim;
    public final boolean attentionBias;

    // dense MLP
    public final int intermediateSize;
    public final boolean mlpBias;
    public final String mlpHiddenAct;

    // Mamba-2
    public final int mambaNumHeads;
    public final int mambaHeadDim;
    public final int ssmStateSize;
    public final int nGroups;
    public final int convKernel;
    public final int expand;
    public final int chunkSize;
    public final boolean useBias;
    public final boolean useConvBias;
    public final String mambaHiddenAct;
    public final double timeStepMin;
    public final double timeStepMax;
    public final double timeStepFloor;
    public final double timeStepLimitLow;
    public final double timeStepLimitHigh;

    // mixture of experts
    public final int nRoutedExperts;
    public final int numExpertsPerTok;
    public final int moeIntermediateSize;
    public final int moeSharedExpertIntermediateSize;
    public final int nSharedExperts;
    public final int nGroup;
    public final int topkGroup;
    public final boolean normTopkProb;
    public final double routedScalingFactor;
    /** 0 when the experts work at hidden size (no latent projection). */
    public final int moeLatentSize;

    private NemotronHConfig(Builder b) {
        vocabSize = b.vocabSize;
        hiddenSize = b.hiddenSize;
        layers = List.copyOf(b.layers);
        tieWordEmbeddings = b.tieWordEmbeddings;
        layerNormEpsilon = b.layerNormEpsilon;
        maxPositionEmbeddings = b.maxPositionEmbeddings;
        bosTokenId = b.bosTokenId;
        padTokenId = b.padTokenId;
        eosTokenIds = List.copyOf(b.eosTokenIds);
        numAttentionHeads = b.numAttentionHeads;
        numKeyValueHeads = b.numKeyValueHeads == 0 ? b.numAttentionHeads : b.numKeyValueHeads;
        headDim = b.headDim == 0 && b.numAttentionHeads > 0 ? b.hiddenSize / b.numAttentionHeads : b.headDim;
        attentionBias = b.attentionBias;
        intermediateSize = b.intermediateSize;
        mlpBias = b.mlpBias;
        mlpHiddenAct = b.mlpHiddenAct;
        mambaNumHeads = b.mambaNumHeads;
        mambaHeadDim = b.mambaHeadDim;
        ssmStateSize = b.ssmStateSize;
        nGroups = b.nGroups;
        convKernel = b.convKernel;
        expand = b.expand;
        chunkSize = b.chunkSize;
        useBias = b.useBias;
        useConvBias = b.useConvBias;
        mambaHiddenAct = b.mambaHiddenAct;
        timeStepMin = b.timeStepMin;
        timeStepMax = b.timeStepMax;
        timeStepFloor = b.timeStepFloor;
        timeStepLimitLow = b.timeStepLimitLow;
        timeStepLimitHigh = b.timeStepLimitHigh;
        nRoutedExperts = b.nRoutedExperts;
        numExpertsPerTok = b.numExpertsPerTok;
        moeIntermediateSize = b.moeIntermediateSize;
        moeSharedExpertIntermediateSize = b.moeSharedExpertIntermediateSize;
        nSharedExperts = b.nSharedExperts;
        nGroup = b.nGroup;
        topkGroup = b.topkGroup;
        normTopkProb = b.normTopkProb;
        routedScalingFactor = b.routedScalingFactor;
        moeLatentSize = b.moeLatentSize;
        validate();
    }

    // ---------------------------------------------------------------- derived sizes

    public int numLayers() {
        return layers.size();
    }

    /** Mamba inner width: HF derives it from heads × head dim, not from {@code expand × hidden}. */
    public int mambaIntermediateSize() {
        return mambaNumHeads * mambaHeadDim;
    }

    /** Channels that go through the causal conv1d: x, B and C. */
    public int convDim() {
        return mambaIntermediateSize() + 2 * nGroups * ssmStateSize;
    }

    /** Output width of the Mamba in_proj: gate z, then xBC, then dt per head. */
    public int inProjSize() {
        return mambaIntermediateSize() + convDim() + mambaNumHeads;
    }

    public String pattern() {
        StringBuilder sb = new StringBuilder(layers.size());
        for (LayerType t : layers) sb.append(t.symbol);
        return sb.toString();
    }

    /** The sizes of this model's Mamba-2 mixers. */
    public MambaShape mamba() {
        return MambaShape.of(this);
    }

    public int count(LayerType type) {
        return (int) layers.stream().filter(t -> t == type).count();
    }

    // ---------------------------------------------------------------- parameter counts and memory

    /** Parameters of one block (its pre-norm included), as transformers' NemotronHBlock holds them. */
    public long blockParamCount(LayerType type) {
        return hiddenSize + BlockWeights.of(this, type, "").parameterCount();
    }

    /** Total parameters, counted the way transformers counts {@code NemotronHForCausalLM.parameters()}. */
    public long paramCount() {
        WeightSchema schema = WeightSchema.of(this);
        // transformers' NemotronH never ties lm_head to the embeddings, whatever tie_word_embeddings says, so it counts
        long p = schema.embeddings.numel() + schema.normF.numel() + schema.lmHead.weight().numel();
        for (LayerType t : layers) p += blockParamCount(t);
        return p;
    }

    /** Parameters of all blocks of each kind. */
    public Map<LayerType, Long> paramCountByType() {
        Map<LayerType, Long> m = new EnumMap<>(LayerType.class);
        for (LayerType t : layers) m.merge(t, blockParamCount(t), Long::sum);
        return m;
    }

    /** Parameters touched per token: MoE blocks count only top-k routed experts plus the shared one. */
    public long activeParamCount() {
        long p = paramCount();
        if (count(LayerType.MOE) > 0) {
            BlockWeights.Moe moe = (BlockWeights.Moe) BlockWeights.of(this, LayerType.MOE, "");
            long perExpert = moe.experts().getFirst().parameterCount();
            p -= (long) count(LayerType.MOE) * (nRoutedExperts - numExpertsPerTok) * perExpert;
        }
        return p;
    }

    /** Bytes of weights at the given storage precision. */
    public long weightBytes(WeightPrecision precision) {
        return precision.bytesFor(paramCount());
    }

    /**
     * Bytes of cache for one sequence of {@code contextLength} tokens: float32 conv and SSM states per Mamba layer
     * (fixed size) plus a K and V of {@code kvBytes} per element per attention layer per token.
     */
    public long cacheBytes(long contextLength, int kvBytes) {
        // exact: validate() checks that max_position_embeddings tokens at 4 bytes fit, so only larger asks can throw
        long mamba = Math.addExact((long) convDim() * convKernel,
                Math.multiplyExact((long) mambaNumHeads * mambaHeadDim, ssmStateSize));
        long kvPerToken = 2L * numKeyValueHeads * headDim;
        return Math.addExact(Math.multiplyExact(4L * count(LayerType.MAMBA), mamba), Math.multiplyExact(
                Math.multiplyExact((long) kvBytes * count(LayerType.ATTENTION), kvPerToken), contextLength));
    }

    // ---------------------------------------------------------------- validation

    private void validate() {
        positive("vocab_size", vocabSize);
        positive("hidden_size", hiddenSize);
        positive("max_position_embeddings", maxPositionEmbeddings);
        if (layers.isEmpty()) {
            throw new ConfigException("the model has no layers: set hybrid_override_pattern (e.g. \"M-M*-\") or layers_block_type");
        }
        if (layers.size() > MAX_LAYERS) {
            throw new ConfigException("the model has " + layers.size() + " layers; nemoh reads at most " + MAX_LAYERS
                    + " (the largest Nemotron-H has 118): the layer pattern is corrupt");
        }
        if (!(layerNormEpsilon > 0) || Double.isInfinite(layerNormEpsilon)) {
            throw new ConfigException("layer_norm_epsilon must be > 0 and finite, got " + layerNormEpsilon);
        }
        finite("routed_scaling_factor", routedScalingFactor);
        finite("time_step_min", timeStepMin);
        finite("time_step_max", timeStepMax);
        finite("time_step_floor", timeStepFloor);
        finite("time_step_limit's lower bound", timeStepLimitLow);
        if (layers.contains(LayerType.ATTENTION)) {
            positive("num_attention_heads", numAttentionHeads);
            positive("num_key_value_heads", numKeyValueHeads);
            positive("head_dim", headDim);
            if (numAttentionHeads % numKeyValueHeads != 0) {
                throw new ConfigException("num_attention_heads (" + numAttentionHeads + ") must be a multiple of"
                        + " num_key_value_heads (" + numKeyValueHeads + ") for grouped-query attention");
            }
            width("num_attention_heads × head_dim", (long) numAttentionHeads * headDim);
        }
        if (layers.contains(LayerType.MLP) || layers.contains(LayerType.MOE)) {
            if (!"relu2".equals(mlpHiddenAct)) {
                throw new ConfigException("mlp_hidden_act \"" + mlpHiddenAct + "\" is not supported; Nemotron-H MLPs use relu2");
            }
        }
        if (layers.contains(LayerType.MLP)) positive("intermediate_size", intermediateSize);
        if (layers.contains(LayerType.MAMBA)) {
            positive("mamba_num_heads", mambaNumHeads);
            positive("mamba_head_dim", mambaHeadDim);
            positive("ssm_state_size", ssmStateSize);
            positive("n_groups (mamba_n_groups)", nGroups);
            positive("conv_kernel (mamba_d_conv)", convKernel);
            positive("chunk_size (mamba_chunk_size)", chunkSize);
            if (mambaNumHeads % nGroups != 0) {
                throw new ConfigException("mamba_num_heads (" + mambaNumHeads + ") must be a multiple of n_groups ("
                        + nGroups + "): each SSM group serves a whole number of heads");
            }
            width("mamba_num_heads × mamba_head_dim", (long) mambaNumHeads * mambaHeadDim);
            width("the width of the Mamba input projection (2 × mamba_num_heads × mamba_head_dim + 2 × n_groups × ssm_state_size"
                    + " + mamba_num_heads)", 2L * mambaNumHeads * mambaHeadDim + 2L * nGroups * ssmStateSize + mambaNumHeads);
            if (!"silu".equals(mambaHiddenAct) && !"swish".equals(mambaHiddenAct)) {
                throw new ConfigException("mamba_hidden_act \"" + mambaHiddenAct + "\" is not supported; Mamba-2 uses silu");
            }
            if (!(timeStepLimitLow <= timeStepLimitHigh)) {
                throw new ConfigException("time_step_limit [" + timeStepLimitLow + ", " + timeStepLimitHigh
                        + "] is empty: the lower bound must not exceed the upper");
            }
        }
        if (layers.contains(LayerType.MOE)) {
            positive("n_routed_experts", nRoutedExperts);
            positive("num_experts_per_tok", numExpertsPerTok);
            positive("moe_intermediate_size", moeIntermediateSize);
            positive("moe_shared_expert_intermediate_size", moeSharedExpertIntermediateSize);
            positive("n_group", nGroup);
            if (numExpertsPerTok > nRoutedExperts) {
                throw new ConfigException("num_experts_per_tok (" + numExpertsPerTok + ") exceeds n_routed_experts ("
                        + nRoutedExperts + ")");
            }
            if (nRoutedExperts % nGroup != 0) {
                throw new ConfigException("n_routed_experts (" + nRoutedExperts + ") must be a multiple of n_group (" + nGroup + ")");
            }
            if (topkGroup < 1 || topkGroup > nGroup) {
                throw new ConfigException("topk_group (" + topkGroup + ") must be between 1 and n_group (" + nGroup + ")");
            }
            if (nRoutedExperts / nGroup < 2 && nGroup > 1) {
                throw new ConfigException("each expert group needs at least 2 experts to score it (n_routed_experts / n_group)");
            }
            if (nRoutedExperts > MAX_EXPERTS || (long) count(LayerType.MOE) * nRoutedExperts > MAX_EXPERT_MLPS) {
                throw new ConfigException("n_routed_experts = " + nRoutedExperts + " in " + count(LayerType.MOE)
                        + " MoE layers is more than nemoh reads (at most " + MAX_EXPERTS + " experts per layer and "
                        + MAX_EXPERT_MLPS + " in all): the config is corrupt");
            }
            if (nSharedExperts > 1) {
                throw new ConfigException("n_shared_experts = " + nSharedExperts + " is not supported: Nemotron-H has one"
                        + " shared expert whose width is moe_shared_expert_intermediate_size");
            }
        }
        try {
            long params = 0;
            for (TensorSpec t : WeightSchema.of(this).tensors()) {
                long n = 1;
                for (long d : t.shape()) n = Math.multiplyExact(n, d);
                params = Math.addExact(params, n);
            }
            Math.multiplyExact(params, 8L); // bytes of the weights at up to float64
            cacheBytes(maxPositionEmbeddings, 4);
        } catch (ArithmeticException e) {
            throw new ConfigException("the sizes in this config overflow 64-bit counts (parameters, or cache bytes for"
                    + " max_position_embeddings = " + maxPositionEmbeddings + " tokens): it is corrupt");
        }
    }

    /** More than any real checkpoint has; bounds what a config alone makes nemoh allocate (a spec per tensor). */
    static final int MAX_LAYERS = 4096;
    static final int MAX_EXPERTS = 1 << 14;
    static final long MAX_EXPERT_MLPS = 1 << 16;

    /** A width nemoh holds in an int (array lengths, tensor dimensions). */
    private static void width(String what, long value) {
        if (value > Integer.MAX_VALUE) {
            throw new ConfigException(what + " = " + value + " overflows a 32-bit size: the config is corrupt");
        }
    }

    private static void finite(String key, double value) {
        if (!Double.isFinite(value)) throw new ConfigException(key + " must be a finite number, got " + value);
    }

    private static void positive(String key, long value) {
        if (value <= 0) throw new ConfigException(key + " must be a positive integer, got " + value);
    }

    // ---------------------------------------------------------------- JSON

    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS) // Python's json writes Infinity / NaN bare
            .enable(JsonParser.Feature.ALLOW_COMMENTS)
            .build();

    /** Reads {@code config.json} from a model directory (or the file itself). */
    public static NemotronHConfig load(Path dirOrFile) {
        Path file = Files.isDirectory(dirOrFile) ? dirOrFile.resolve("config.json") : dirOrFile;
        JsonNode root;
        try {
            root = JSON.readTree(file.toFile());
        } catch (NoSuchFileException | java.io.FileNotFoundException e) {
            throw new ConfigException("no config.json at " + file + ": point --model at a Hugging Face model directory");
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new ConfigException("config.json at " + file + " is not valid JSON: " + e.getOriginalMessage());
        } catch (IOException e) {
            throw new ConfigException("cannot read " + file + ": " + e.getMessage());
        }
        if (root == null || !root.isObject()) throw new ConfigException("config.json at " + file + " is not a JSON object");
        try {
            return fromJson((ObjectNode) root);
        } catch (ConfigException e) {
            throw new ConfigException(file + ": " + e.getMessage());
        }
    }

    public static NemotronHConfig parse(String json) {
        try {
            JsonNode root = JSON.readTree(json);
            if (root == null || !root.isObject()) throw new ConfigException("config is not a JSON object");
            return fromJson((ObjectNode) root);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new ConfigException("config is not valid JSON: " + e.getOriginalMessage());
        }
    }

    private static final Set<String> MODEL_TYPES = Set.of("nemotron_h", "nemotron-h", "nemotronh");

    public static NemotronHConfig fromJson(ObjectNode n) {
        Keys k = new Keys(n);
        String modelType = k.string("model_type", "nemotron_h");
        if (!MODEL_TYPES.contains(modelType)) {
            throw new ConfigException("model_type \"" + modelType + "\" is not a Nemotron-H model (expected \"nemotron_h\")");
        }
        Builder b = builder();
        b.vocabSize = k.requiredInt("vocab_size");
        b.hiddenSize = k.requiredInt("hidden_size");
        b.layers = readLayers(k);
        if (n.has("num_hidden_layers") && !n.get("num_hidden_layers").isNull()
                && k.integer("num_hidden_layers", 0) != b.layers.size()) {
            throw new ConfigException("num_hidden_layers (" + k.integer("num_hidden_layers", 0) + ") disagrees with the "
                    + b.layers.size() + " layers of the layer pattern; fix one of them");
        }
        b.tieWordEmbeddings = k.bool("tie_word_embeddings", false);
        b.layerNormEpsilon = k.number(1e-5, "layer_norm_epsilon", "rms_norm_eps");
        b.maxPositionEmbeddings = k.integer("max_position_embeddings", 4096);
        b.bosTokenId = k.integer("bos_token_id", 1);
        b.padTokenId = k.integer("pad_token_id", 0);
        b.eosTokenIds = k.intList("eos_token_id", List.of(2));

        b.numAttentionHeads = k.integer("num_attention_heads", 32);
        b.numKeyValueHeads = k.integer("num_key_value_heads", 0);
        b.headDim = k.integer(0, "head_dim", "attention_head_dim");
        b.attentionBias = k.bool("attention_bias", false);

        b.intermediateSize = k.integer("intermediate_size", 21504);
        b.mlpBias = k.bool("mlp_bias", false);
        b.mlpHiddenAct = k.string("mlp_hidden_act", "relu2");

        b.mambaNumHeads = k.integer("mamba_num_heads", 128);
        b.mambaHeadDim = k.integer("mamba_head_dim", 64);
        b.ssmStateSize = k.integer("ssm_state_size", 128);
        b.nGroups = k.integer(8, "n_groups", "mamba_n_groups");
        b.convKernel = k.integer(4, "conv_kernel", "mamba_d_conv");
        b.expand = k.integer(2, "expand", "mamba_expand");
        b.chunkSize = k.integer(128, "chunk_size", "mamba_chunk_size");
        b.useBias = k.bool("use_bias", false);
        b.useConvBias = k.bool(true, "use_conv_bias", "mamba_conv_bias");
        b.mambaHiddenAct = k.string("mamba_hidden_act", "silu");
        b.timeStepMin = k.number(0.001, "time_step_min", "mamba_dt_min");
        b.timeStepMax = k.number(0.1, "time_step_max", "mamba_dt_max");
        b.timeStepFloor = k.number(1e-4, "time_step_floor", "mamba_dt_init_floor");
        double[] limit = k.limit();
        b.timeStepLimitLow = limit[0];
        b.timeStepLimitHigh = limit[1];

        b.nRoutedExperts = k.integer(8, "n_routed_experts", "num_local_experts");
        b.numExpertsPerTok = k.integer("num_experts_per_tok", 2);
        b.moeIntermediateSize = k.integer("moe_intermediate_size", 7688);
        b.moeSharedExpertIntermediateSize = k.integer("moe_shared_expert_intermediate_size", 7688);
        b.nSharedExperts = k.integer("n_shared_experts", 1);
        b.nGroup = k.integer("n_group", 1);
        b.topkGroup = k.integer("topk_group", 1);
        b.normTopkProb = k.bool("norm_topk_prob", true);
        b.routedScalingFactor = k.number(1.0, "routed_scaling_factor");
        b.moeLatentSize = k.integer("moe_latent_size", 0);
        return b.build();
    }

    private static List<LayerType> readLayers(Keys k) {
        JsonNode list = k.node.get("layers_block_type");
        if (list == null || list.isNull()) list = k.node.get("layer_types");
        if (list != null && !list.isNull()) {
            if (!list.isArray()) throw new ConfigException("layers_block_type must be a list of strings");
            List<LayerType> out = new ArrayList<>();
            for (JsonNode e : list) {
                if (!e.isTextual()) throw new ConfigException("layers_block_type must be a list of strings, found " + e);
                out.add(LayerType.fromName(e.asText()));
            }
            return out;
        }
        JsonNode pattern = k.node.get("hybrid_override_pattern");
        if (pattern == null || pattern.isNull()) {
            throw new ConfigException("missing key: neither layers_block_type nor hybrid_override_pattern is set,"
                    + " so the layer stack is unknown");
        }
        if (!pattern.isTextual()) throw new ConfigException("hybrid_override_pattern must be a string such as \"M-M*-\"");
        return parsePattern(pattern.asText());
    }

    public static List<LayerType> parsePattern(String pattern) {
        List<LayerType> out = new ArrayList<>(pattern.length());
        for (int i = 0; i < pattern.length(); i++) out.add(LayerType.fromSymbol(pattern.charAt(i)));
        return out;
    }

    /** The config in current transformers form, as {@code save_pretrained} would write it. */
    public ObjectNode toJson() {
        ObjectNode n = JSON.createObjectNode();
        n.putArray("architectures").add("NemotronHForCausalLM");
        n.put("model_type", "nemotron_h");
        n.put("vocab_size", vocabSize);
        n.put("hidden_size", hiddenSize);
        ArrayNode types = n.putArray("layers_block_type");
        for (LayerType t : layers) types.add(t.blockTypeName());
        n.put("tie_word_embeddings", tieWordEmbeddings);
        n.put("layer_norm_epsilon", layerNormEpsilon);
        n.put("max_position_embeddings", maxPositionEmbeddings);
        n.put("bos_token_id", bosTokenId);
        n.put("pad_token_id", padTokenId);
        if (eosTokenIds.size() == 1) {
            n.put("eos_token_id", eosTokenIds.getFirst());
        } else {
            ArrayNode eos = n.putArray("eos_token_id");
            eosTokenIds.forEach(eos::add);
        }
        n.put("num_attention_heads", numAttentionHeads);
        n.put("num_key_value_heads", numKeyValueHeads);
        n.put("head_dim", headDim);
        n.put("attention_bias", attentionBias);
        n.put("intermediate_size", intermediateSize);
        n.put("mlp_bias", mlpBias);
        n.put("mlp_hidden_act", mlpHiddenAct);
        n.put("mamba_num_heads", mambaNumHeads);
        n.put("mamba_head_dim", mambaHeadDim);
        n.put("ssm_state_size", ssmStateSize);
        n.put("n_groups", nGroups);
        n.put("conv_kernel", convKernel);
        n.put("expand", expand);
        n.put("chunk_size", chunkSize);
        n.put("use_bias", useBias);
        n.put("use_conv_bias", useConvBias);
        n.put("mamba_hidden_act", mambaHiddenAct);
        n.put("time_step_min", timeStepMin);
        n.put("time_step_max", timeStepMax);
        n.put("time_step_floor", timeStepFloor);
        ArrayNode limit = n.putArray("time_step_limit");
        limit.add(timeStepLimitLow);
        if (Double.isInfinite(timeStepLimitHigh)) {
            limit.addObject().put("__float__", "Infinity");
        } else {
            limit.add(timeStepLimitHigh);
        }
        n.put("n_routed_experts", nRoutedExperts);
        n.put("num_experts_per_tok", numExpertsPerTok);
        n.put("moe_intermediate_size", moeIntermediateSize);
        n.put("moe_shared_expert_intermediate_size", moeSharedExpertIntermediateSize);
        n.put("n_shared_experts", nSharedExperts);
        n.put("n_group", nGroup);
        n.put("topk_group", topkGroup);
        n.put("norm_topk_prob", normTopkProb);
        n.put("routed_scaling_factor", routedScalingFactor);
        if (moeLatentSize > 0) n.put("moe_latent_size", moeLatentSize); else n.putNull("moe_latent_size");
        n.put("use_mamba_kernels", false);
        n.put("dtype", "bfloat16");
        return n;
    }

    public String toJsonString() {
        try {
            return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(toJson());
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    public Builder toBuilder() {
        Builder b = new Builder();
        b.vocabSize = vocabSize; b.hiddenSize = hiddenSize; b.layers = new ArrayList<>(layers);
        b.tieWordEmbeddings = tieWordEmbeddings; b.layerNormEpsilon = layerNormEpsilon;
        b.maxPositionEmbeddings = maxPositionEmbeddings; b.bosTokenId = bosTokenId; b.padTokenId = padTokenId;
        b.eosTokenIds = eosTokenIds; b.numAttentionHeads = numAttentionHeads; b.numKeyValueHeads = numKeyValueHeads;
        b.headDim = headDim; b.attentionBias = attentionBias; b.intermediateSize = intermediateSize; b.mlpBias = mlpBias;
        b.mlpHiddenAct = mlpHiddenAct; b.mambaNumHeads = mambaNumHeads; b.mambaHeadDim = mambaHeadDim;
        b.ssmStateSize = ssmStateSize; b.nGroups = nGroups; b.convKernel = convKernel; b.expand = expand;
        b.chunkSize = chunkSize; b.useBias = useBias; b.useConvBias = useConvBias; b.mambaHiddenAct = mambaHiddenAct;
        b.timeStepMin = timeStepMin; b.timeStepMax = timeStepMax; b.timeStepFloor = timeStepFloor;
        b.timeStepLimitLow = timeStepLimitLow; b.timeStepLimitHigh = timeStepLimitHigh;
        b.nRoutedExperts = nRoutedExperts; b.numExpertsPerTok = numExpertsPerTok;
        b.moeIntermediateSize = moeIntermediateSize; b.moeSharedExpertIntermediateSize = moeSharedExpertIntermediateSize;
        b.nSharedExperts = nSharedExperts; b.nGroup = nGroup; b.topkGroup = topkGroup; b.normTopkProb = normTopkProb;
        b.routedScalingFactor = routedScalingFactor; b.moeLatentSize = moeLatentSize;
        return b;
    }

    public static Builder builder() {
        return new Builder();
    }

    /**
     * Builds a config for a custom hybrid. Defaults are transformers' NemotronHConfig defaults; the layer stack comes
     * from {@link #pattern(String)}, {@link #layerTypes(List)} or {@link #layers(int, int)}.
     */
    public static final class Builder {
        private int vocabSize = 131072;
        private int hiddenSize = 4096;
        private List<LayerType> layers = new ArrayList<>();
        private boolean tieWordEmbeddings;
        private double layerNormEpsilon = 1e-5;
        private int maxPositionEmbeddings = 4096;
        private int bosTokenId = 1;
        private int padTokenId = 0;
        private List<Integer> eosTokenIds = List.of(2);
        private int numAttentionHeads = 32;
        private int numKeyValueHeads = 8;
        private int headDim = 128;
        private boolean attentionBias;
        private int intermediateSize = 21504;
        private boolean mlpBias;
        private String mlpHiddenAct = "relu2";
        private int mambaNumHeads = 128;
        private int mambaHeadDim = 64;
        private int ssmStateSize = 128;
        private int nGroups = 8;
        private int convKernel = 4;
        private int expand = 2;
        private int chunkSize = 128;
        private boolean useBias;
        private boolean useConvBias = true;
        private String mambaHiddenAct = "silu";
        private double timeStepMin = 0.001;
        private double timeStepMax = 0.1;
        private double timeStepFloor = 1e-4;
        private double timeStepLimitLow = 0.0;
        private double timeStepLimitHigh = Double.POSITIVE_INFINITY;
        private int nRoutedExperts = 8;
        private int numExpertsPerTok = 2;
        private int moeIntermediateSize = 7688;
        private int moeSharedExpertIntermediateSize = 7688;
        private int nSharedExperts = 1;
        private int nGroup = 1;
        private int topkGroup = 1;
        private boolean normTopkProb = true;
        private double routedScalingFactor = 1.0;
        private int moeLatentSize;

        private Builder() {}

        public Builder vocabSize(int v) { vocabSize = v; return this; }
        public Builder hiddenSize(int v) { hiddenSize = v; return this; }
        public Builder pattern(String p) { layers = parsePattern(p); return this; }
        public Builder layerTypes(List<LayerType> l) { layers = new ArrayList<>(l); return this; }

        /**
         * A stack of {@code numLayers} blocks alternating Mamba-2 and MLP ("M-M-..."), where every
         * {@code attentionEvery}-th block is attention instead (0: none). The published models place their few
         * attention blocks irregularly; use {@link #pattern(String)} or a preset for those.
         */
        public Builder layers(int numLayers, int attentionEvery) {
            List<LayerType> l = new ArrayList<>(numLayers);
            for (int i = 0; i < numLayers; i++) {
                if (attentionEvery > 0 && (i + 1) % attentionEvery == 0) l.add(LayerType.ATTENTION);
                else l.add(i % 2 == 0 ? LayerType.MAMBA : LayerType.MLP);
            }
            layers = l;
            return this;
        }

        public Builder tieWordEmbeddings(boolean v) { tieWordEmbeddings = v; return this; }
        public Builder layerNormEpsilon(double v) { layerNormEpsilon = v; return this; }
        public Builder maxPositionEmbeddings(int v) { maxPositionEmbeddings = v; return this; }
        public Builder eosTokenIds(List<Integer> v) { eosTokenIds = List.copyOf(v); return this; }
        public Builder attentionHeads(int heads, int kvHeads, int dim) {
            numAttentionHeads = heads; numKeyValueHeads = kvHeads; headDim = dim; return this;
        }
        public Builder intermediateSize(int v) { intermediateSize = v; return this; }
        public Builder mamba(int heads, int headDimension, int stateSize, int groups) {
            mambaNumHeads = heads; mambaHeadDim = headDimension; ssmStateSize = stateSize; nGroups = groups; return this;
        }
        public Builder convKernel(int v) { convKernel = v; return this; }
        public Builder expand(int v) { expand = v; return this; }
        public Builder chunkSize(int v) { chunkSize = v; return this; }
        public Builder useConvBias(boolean v) { useConvBias = v; return this; }
        public Builder timeStepLimit(double low, double high) { timeStepLimitLow = low; timeStepLimitHigh = high; return this; }
        public Builder moe(int routedExperts, int perToken, int expertSize, int sharedExpertSize) {
            nRoutedExperts = routedExperts; numExpertsPerTok = perToken;
            moeIntermediateSize = expertSize; moeSharedExpertIntermediateSize = sharedExpertSize; return this;
        }
        public Builder moeRouting(int groups, int topkGroups, boolean normalize, double scaling) {
            nGroup = groups; topkGroup = topkGroups; normTopkProb = normalize; routedScalingFactor = scaling; return this;
        }
        public Builder moeLatentSize(int v) { moeLatentSize = v; return this; }

        public NemotronHConfig build() {
            return new NemotronHConfig(this);
        }
    }

    /** Typed access to config keys with aliases; every type error names the key. */
    private record Keys(ObjectNode node) {
        JsonNode find(String... names) {
            for (String name : names) {
                JsonNode v = node.get(name);
                if (v != null && !v.isNull()) return v;
            }
            return null;
        }

        int requiredInt(String name) {
            JsonNode v = find(name);
            if (v == null) throw new ConfigException("missing key: " + name);
            return asInt(name, v);
        }

        int integer(String name, int def) {
            return integer(def, name);
        }

        int integer(int def, String... names) {
            JsonNode v = find(names);
            return v == null ? def : asInt(names[0], v);
        }

        private static int asInt(String name, JsonNode v) {
            if (!v.isIntegralNumber() || !v.canConvertToInt()) {
                throw new ConfigException(name + " must be an integer, got " + v);
            }
            return v.intValue();
        }

        double number(double def, String... names) {
            JsonNode v = find(names);
            return v == null ? def : asDouble(names[0], v);
        }

        static double asDouble(String name, JsonNode v) {
            if (v.isNumber()) return v.doubleValue();
            if (v.isObject() && v.has("__float__")) { // transformers' encoding of inf / nan
                String s = v.get("__float__").asText();
                return switch (s) {
                    case "Infinity", "inf" -> Double.POSITIVE_INFINITY;
                    case "-Infinity", "-inf" -> Double.NEGATIVE_INFINITY;
                    case "NaN", "nan" -> Double.NaN;
                    default -> throw new ConfigException(name + " has unknown __float__ value \"" + s + "\"");
                };
            }
            throw new ConfigException(name + " must be a number, got " + v);
        }

        boolean bool(String name, boolean def) {
            return bool(def, name);
        }

        boolean bool(boolean def, String... names) {
            JsonNode v = find(names);
            if (v == null) return def;
            if (!v.isBoolean()) throw new ConfigException(names[0] + " must be true or false, got " + v);
            return v.booleanValue();
        }

        String string(String name, String def) {
            JsonNode v = find(name);
            if (v == null) return def;
            if (!v.isTextual()) throw new ConfigException(name + " must be a string, got " + v);
            return v.asText();
        }

        List<Integer> intList(String name, List<Integer> def) {
            JsonNode v = find(name);
            if (v == null) return def;
            if (v.isArray()) {
                List<Integer> out = new ArrayList<>();
                for (JsonNode e : v) out.add(asInt(name, e));
                return Collections.unmodifiableList(out);
            }
            return List.of(asInt(name, v));
        }

        double[] limit() {
            JsonNode v = find("time_step_limit", "mamba_dt_limit");
            if (v == null) return new double[] {0.0, Double.POSITIVE_INFINITY};
            if (!v.isArray() || v.size() != 2) {
                throw new ConfigException("time_step_limit must be a pair [low, high], got " + v);
            }
            return new double[] {asDouble("time_step_limit", v.get(0)), asDouble("time_step_limit", v.get(1))};
        }
    }
}
