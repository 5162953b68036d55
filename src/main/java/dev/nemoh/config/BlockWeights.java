package dev.nemoh.config;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * The weights of one block's mixer ({@code backbone.layers.N.mixer.*}), one record per kind of block: the only place
 * where their names and shapes are written down. Loading on the CPU and the GPU, training, random init, GGUF export
 * and parameter counts all read them from here.
 */
public sealed interface BlockWeights {
    /** Every tensor of the mixer, in the order transformers declares them. */
    List<TensorSpec> tensors();

    /** The linear layers of the mixer that adapters (LoRA, DoRA) may target. */
    List<LinearSpec> adaptable();

    /** Names of the modules adapters may target, over all kinds of block (MoE experts count as up/down_proj). */
    List<String> ADAPTABLE_MODULES = List.of(Mamba2.IN_PROJ, Mamba2.OUT_PROJ, Attention.Q_PROJ, Attention.K_PROJ,
            Attention.V_PROJ, Attention.O_PROJ, Mlp.UP_PROJ, Mlp.DOWN_PROJ);

    /** Parameters transformers counts in the mixer (its buffers not). */
    default long parameterCount() {
        long n = 0;
        for (TensorSpec t : tensors()) if (t.required() && t.role() == TensorSpec.Role.PARAMETER) n += t.numel();
        return n;
    }

    /** The weights of a mixer of {@code type} under {@code prefix} ({@code backbone.layers.N.mixer}). */
    static BlockWeights of(NemotronHConfig c, LayerType type, String prefix) {
        return switch (type) {
            case MAMBA -> Mamba2.of(c, prefix);
            case ATTENTION -> Attention.of(c, prefix);
            case MLP -> Mlp.of(c, prefix, c.hiddenSize, c.intermediateSize);
            case MOE -> Moe.of(c, prefix);
        };
    }

    /** transformers' NemotronHMamba2Mixer. */
    record Mamba2(LinearSpec inProj, LinearSpec outProj, TensorSpec convWeight, TensorSpec convBias, TensorSpec dtBias,
                  TensorSpec aLog, TensorSpec d, TensorSpec norm) implements BlockWeights {
        public static final String IN_PROJ = "in_proj", OUT_PROJ = "out_proj";

        static Mamba2 of(NemotronHConfig c, String p) {
            int heads = c.mambaNumHeads, conv = c.convDim();
            return new Mamba2(
                    LinearSpec.of(p, IN_PROJ, c.inProjSize(), c.hiddenSize, c.useBias, "use_bias = true"),
                    LinearSpec.of(p, OUT_PROJ, c.hiddenSize, c.mambaIntermediateSize(), c.useBias, "use_bias = true"),
                    TensorSpec.required(p + ".conv1d.weight", conv, 1, c.convKernel),
                    TensorSpec.requiredIf(c.useConvBias, "use_conv_bias = true", p + ".conv1d.bias", conv),
                    TensorSpec.required(p + ".dt_bias", heads),
                    TensorSpec.required(p + ".A_log", heads),
                    TensorSpec.required(p + ".D", heads),
                    TensorSpec.required(p + ".norm.weight", c.mambaIntermediateSize()));
        }

        @Override
        public List<TensorSpec> tensors() {
            return List.of(inProj.weight(), inProj.bias(), convWeight, convBias, dtBias, aLog, d, norm, outProj.weight(),
                    outProj.bias());
        }

        @Override
        public List<LinearSpec> adaptable() {
            return List.of(inProj, outProj);
        }
    }

    /** transformers' NemotronHAttention: q/k/v/o projections, no rotary embedding. */
    record Attention(LinearSpec qProj, LinearSpec kProj, LinearSpec vProj, LinearSpec oProj) implements BlockWeights {
        public static final String Q_PROJ = "q_proj", K_PROJ = "k_proj", V_PROJ = "v_proj", O_PROJ = "o_proj";

        static Attention of(NemotronHConfig c, String p) {
            int q = c.numAttentionHeads * c.headDim, kv = c.numKeyValueHeads * c.headDim, h = c.hiddenSize;
            boolean b = c.attentionBias;
            return new Attention(LinearSpec.of(p, Q_PROJ, q, h, b, "attention_bias = true"),
                    LinearSpec.of(p, K_PROJ, kv, h, b, "attention_bias = true"),
                    LinearSpec.of(p, V_PROJ, kv, h, b, "attention_bias = true"),
                    LinearSpec.of(p, O_PROJ, h, q, b, "attention_bias = true"));
        }

        @Override
        public List<TensorSpec> tensors() {
            return linearTensors(adaptable());
        }

        @Override
        public List<LinearSpec> adaptable() {
            return List.of(qProj, kProj, vProj, oProj);
        }
    }

    /** transformers' NemotronHMLP, {@code down(relu(up(x))²)}: the dense MLP, and each expert of a MoE block. */
    record Mlp(LinearSpec upProj, LinearSpec downProj) implements BlockWeights {
        public static final String UP_PROJ = "up_proj", DOWN_PROJ = "down_proj";

        static Mlp of(NemotronHConfig c, String p, int in, int inner) {
            return new Mlp(LinearSpec.of(p, UP_PROJ, inner, in, c.mlpBias, "mlp_bias = true"),
                    LinearSpec.of(p, DOWN_PROJ, in, inner, c.mlpBias, "mlp_bias = true"));
        }

        @Override
        public List<TensorSpec> tensors() {
            return linearTensors(adaptable());
        }

        @Override
        public List<LinearSpec> adaptable() {
            return List.of(upProj, downProj);
        }
    }

    /**
     * transformers' NemotronHMoE: the router ({@code gate}, with its correction bias, a buffer that is zeros when a
     * checkpoint lacks it), routed experts (behind a latent projection when {@code moe_latent_size} is set; then
     * {@code latentIn}/{@code latentOut} are non-null) and one shared expert.
     */
    record Moe(LinearSpec gate, TensorSpec correctionBias, List<Mlp> experts, Mlp sharedExpert, LinearSpec latentIn,
               LinearSpec latentOut) implements BlockWeights {
        public Moe {
            experts = List.copyOf(experts);
        }

        static Moe of(NemotronHConfig c, String p) {
            int h = c.hiddenSize, width = c.moeLatentSize > 0 ? c.moeLatentSize : h;
            String gate = p + ".gate";
            // the router has no bias; its correction bias steers the choice of experts only
            LinearSpec router = new LinearSpec(gate, "gate", TensorSpec.required(gate + ".weight", c.nRoutedExperts, h),
                    TensorSpec.requiredIf(false, null, gate + ".bias", c.nRoutedExperts));
            TensorSpec correction = new TensorSpec(gate + ".e_score_correction_bias", new long[] {c.nRoutedExperts},
                    TensorSpec.Role.BUFFER, false, null);
            List<Mlp> experts = new ArrayList<>();
            for (int e = 0; e < c.nRoutedExperts; e++) experts.add(Mlp.of(c, p + ".experts." + e, width, c.moeIntermediateSize));
            boolean latent = c.moeLatentSize > 0;
            return new Moe(router, correction, experts, Mlp.of(c, p + ".shared_experts", h, c.moeSharedExpertIntermediateSize),
                    latent ? LinearSpec.of(p, "fc1_latent_proj", width, h, c.mlpBias, "mlp_bias = true") : null,
                    latent ? LinearSpec.of(p, "fc2_latent_proj", h, width, c.mlpBias, "mlp_bias = true") : null);
        }

        /** Width the experts work at: {@code moe_latent_size}, or the hidden size. */
        public int expertWidth() {
            return experts.getFirst().upProj().in();
        }

        @Override
        public List<TensorSpec> tensors() {
            List<TensorSpec> all = new ArrayList<>(List.of(gate.weight(), gate.bias(), correctionBias));
            for (Mlp e : experts) all.addAll(e.tensors());
            all.addAll(sharedExpert.tensors());
            if (latentIn != null) all.addAll(linearTensors(List.of(latentIn, latentOut)));
            return List.copyOf(all);
        }

        @Override
        public List<LinearSpec> adaptable() {
            return Stream.concat(experts.stream(), Stream.of(sharedExpert)).flatMap(m -> m.adaptable().stream()).toList();
        }
    }

    private static List<TensorSpec> linearTensors(List<LinearSpec> linears) {
        return linears.stream().flatMap(l -> Stream.of(l.weight(), l.bias())).toList();
    }
}
