package dev.nemoh.model;

import dev.nemoh.kernels.Vec;

/**
 * Mamba's causal depthwise conv1d over K taps followed by SiLU, on the xBC channels of in_proj's output. Its input
 * columns start at {@code offset} within rows of {@code width} floats, so in_proj's output is read in place.
 */
public final class CausalConv1d {
    /** [channels, K] (the checkpoint's [channels, 1, K]), read live */
    public final float[] weight;
    /** [channels], zeros when the checkpoint has no conv bias */
    public final float[] bias;
    final int channels, kernel;

    public CausalConv1d(float[] weight, float[] bias, int kernel) {
        this.weight = weight;
        this.bias = bias;
        this.channels = bias.length;
        this.kernel = kernel;
    }

    /**
     * [len, channels] outputs. The state holds the last K inputs of each channel; positions before this call read
     * from it, and it is rolled forward to hold the last K inputs afterwards.
     */
    public float[] forward(float[] in, int len, int width, int offset, float[] state) {
        float[] out = new float[len * channels];
        int k = kernel;
        float[] last = new float[k];
        for (int ch = 0; ch < channels; ch++) {
            int s0 = ch * k;
            for (int t = 0; t < len; t++) {
                out[t * channels + ch] = Vec.silu(preActivation(in, width, offset, state, ch, t));
            }
            // roll: keep the last K inputs, counting both the old state and this call's tokens
            for (int j = 0; j < k; j++) {
                int src = len - k + j;
                last[j] = src >= 0 ? in[src * width + offset + ch] : state[s0 + k + src];
            }
            System.arraycopy(last, 0, state, s0, k);
        }
        return out;
    }

    private float preActivation(float[] in, int width, int offset, float[] state, int ch, int t) {
        float acc = bias[ch];
        for (int j = 0; j < kernel; j++) {
            int src = t - (kernel - 1) + j; // input position read by tap j
            float v = src >= 0 ? in[src * width + offset + ch] : state[ch * kernel + kernel + src];
            acc += weight[ch * kernel + j] * v;
        }
        return acc;
    }

    /**
     * Gradient of {@link #forward} from an all-zero state: adds into {@code dIn} (same layout as the input),
     * {@code dWeight} and {@code dBias}. The pre-activations are recomputed, K multiply-adds each.
     */
    public void backward(float[] dOut, float[] in, int len, int width, int offset, float[] dIn, float[] dWeight,
                         float[] dBias) {
        float[] zeroState = new float[channels * kernel];
        for (int ch = 0; ch < channels; ch++) {
            for (int t = 0; t < len; t++) {
                float dPre = dOut[t * channels + ch] * Vec.siluGrad(preActivation(in, width, offset, zeroState, ch, t));
                dBias[ch] += dPre;
                for (int j = 0; j < kernel; j++) {
                    int src = t - (kernel - 1) + j;
                    if (src < 0) continue;
                    dWeight[ch * kernel + j] += dPre * in[src * width + offset + ch];
                    dIn[src * width + offset + ch] += dPre * weight[ch * kernel + j];
                }
            }
        }
    }
}
