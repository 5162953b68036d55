package dev.nemoh.model;

import dev.nemoh.config.NemotronHConfig;
import dev.nemoh.kernels.Vec;

/**
 * Mixture of experts as in Nemotron 3: the gate's logits routed by {@link TopkRouter}; relu² experts (optionally
 * behind a latent projection), each run once on its tokens by {@link ExpertDispatch}; and one shared expert that
 * sees every token.
 *
 * @param latentIn  {@code fc1_latent_proj}, or null without {@code moe_latent_size} (then latentOut is null too)
 */
public record MoeMixer(NemotronHConfig c, Linear gate, TopkRouter router, MlpMixer[] experts, MlpMixer sharedExpert,
                       Linear latentIn, Linear latentOut) implements Mixer {
    @Override
    public long decodeWeightBytes() {
        long experts = 0;
        for (MlpMixer e : this.experts) experts += e.decodeWeightBytes();
        long latent = latentIn == null ? 0 : latentIn.weight.bytes() + latentOut.weight.bytes();
        return gate.weight.bytes() + experts / this.experts.length * c.numExpertsPerTok + sharedExpert.decodeWeightBytes() + latent;
    }

    @Override
    public float[] forward(float[] x, int len, HybridCache.Layer cache, LoraAdapter[] adapters) {
        ExpertDispatch dispatch = ExpertDispatch.of(router.forward(gate.forward(x, len), len), experts.length);
        float[] expertIn = latentIn != null ? latentIn.forward(x, len) : x;
        int width = latentIn != null ? latentIn.out : c.hiddenSize;
        float[] routed = dispatch.combine(expertIn, width,
                (e, rows, n) -> experts[e].forward(rows, n, null, LoraAdapter.gather(adapters, dispatch, e)), null);
        float[] y = latentOut != null ? latentOut.forward(routed, len) : routed;
        Vec.add(y, sharedExpert.forward(x, len, null, adapters), len * c.hiddenSize);
        return y;
    }

    @Override
    public java.util.List<Linear> linears() {
        java.util.List<Linear> all = new java.util.ArrayList<>(java.util.List.of(gate));
        for (MlpMixer e : experts) all.addAll(e.linears());
        all.addAll(sharedExpert.linears());
        if (latentIn != null) all.addAll(java.util.List.of(latentIn, latentOut));
        return all;
    }

    /** Routing is per token and the experts keep no state, so a batch of sequences is just more rows. */
    @Override
    public float[] decode(float[] x, int batch, HybridCache.Layer[] caches, LoraAdapter[] adapters) {
        return forward(x, batch, null, adapters);
    }
}
