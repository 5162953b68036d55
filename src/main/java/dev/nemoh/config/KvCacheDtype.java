package dev.nemoh.config;

import java.util.Locale;

/**
 * How the CPU KV cache stores keys and values. float32 keeps the attention exactly as the float32 reference computes
 * it; bfloat16 halves the cache's memory and the bytes a decode step reads at long context, at the cost of rounding
 * each key and value to 8 significant bits (as a bf16 model in transformers, or the CUDA backend, stores them).
 */
public enum KvCacheDtype {
    FLOAT32(4),
    BFLOAT16(2);

    /** Bytes per stored key or value element. */
    public final int bytes;

    KvCacheDtype(int bytes) {
        this.bytes = bytes;
    }

    /**
     * The CLI's {@code --kv-cache-dtype}: float32, bfloat16, or auto, which is bfloat16 when the weights are quantized
     * (the model is already approximate, and its 4 or 8 bits per weight leave the KV cache a large share of what a
     * long-context step reads) and float32 otherwise.
     */
    public static KvCacheDtype parse(String s, boolean quantizedWeights) {
        return switch (s.toLowerCase(Locale.ROOT)) {
            case "auto" -> quantizedWeights ? BFLOAT16 : FLOAT32;
            case "float32", "fp32", "f32" -> FLOAT32;
            case "bfloat16", "bf16" -> BFLOAT16;
            default -> throw new IllegalArgumentException("unknown KV cache dtype \"" + s + "\"; use auto, float32 or bfloat16");
        };
    }

    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }
}
