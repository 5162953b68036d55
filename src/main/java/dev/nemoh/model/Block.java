package dev.nemoh.model;

import dev.nemoh.config.LayerType;

/** One layer of the stack: {@code x + mixer(norm(x))}. */
public record Block(int index, LayerType type, RmsNorm norm, Mixer mixer) {
    /** Adds the block's output to {@code x} in place. */
    public void forward(float[] x, int len, HybridCache.Layer cache, LoraAdapter[] adapters) {
        float[] out = mixer.forward(norm.forward(x, len), len, cache, adapters);
        for (int i = 0; i < x.length; i++) x[i] += out[i];
    }

    /** One decode step of {@code batch} sequences, row b continuing the sequence whose layer state is caches[b]. */
    public void decode(float[] x, int batch, HybridCache.Layer[] caches, LoraAdapter[] adapters) {
        float[] out = mixer.decode(norm.forward(x, batch), batch, caches, adapters);
        for (int i = 0; i < x.length; i++) x[i] += out[i];
    }
}
