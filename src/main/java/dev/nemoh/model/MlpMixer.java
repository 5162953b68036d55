package dev.nemoh.model;

import dev.nemoh.kernels.Vec;

/** Nemotron-H's MLP: {@code down(relu(up(x))²)}; no gate, unlike SwiGLU. */
public final class MlpMixer implements Mixer {
    public final Linear upProj;
    public final Linear downProj;

    public MlpMixer(Linear upProj, Linear downProj) {
        this.upProj = upProj;
        this.downProj = downProj;
    }

    @Override
    public long decodeWeightBytes() {
        return upProj.weight.bytes() + downProj.weight.bytes();
    }

    @Override
    public float[] forward(float[] x, int len, HybridCache.Layer cache, LoraAdapter[] adapters) {
        float[] h = upProj.forward(x, len, adapters);
        for (int i = 0; i < h.length; i++) h[i] = Vec.reluSquared(h[i]);
        return downProj.forward(h, len, adapters);
    }

    @Override
    public java.util.List<Linear> linears() {
        return java.util.List.of(upProj, downProj);
    }

    /** Rows are independent tokens and the MLP keeps no state, so a batch of sequences is just more rows. */
    @Override
    public float[] decode(float[] x, int batch, HybridCache.Layer[] caches, LoraAdapter[] adapters) {
        return forward(x, batch, null, adapters);
    }
}
