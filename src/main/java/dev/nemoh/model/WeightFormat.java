package dev.nemoh.model;

import dev.nemoh.kernels.GgmlWeights;
import dev.nemoh.kernels.QuantizedWeights;

/**
 * How linear-layer weights are held in memory: as the checkpoint stores them (mapped, not copied), or quantized
 * on load. Embeddings (read a row at a time), the MoE router (its choices are sensitive) and 1-D parameters stay as
 * stored. {@link #GGML} is a GGUF file's: mapped as stored, with GGML's products ({@link GgmlWeights}); it is set by
 * loading a GGUF file, not chosen.
 */
public enum WeightFormat {
    AS_STORED(null),
    Q8_0(QuantizedWeights.Format.Q8_0),
    Q4_0(QuantizedWeights.Format.Q4_0),
    GGML(null);

    final QuantizedWeights.Format quantized;

    WeightFormat(QuantizedWeights.Format quantized) {
        this.quantized = quantized;
    }

    /** Parses a CLI value such as "bf16", "as-stored", "q8_0" or "q4_0". */
    public static WeightFormat parse(String s) {
        return switch (s.toLowerCase(java.util.Locale.ROOT).replace('-', '_')) {
            case "as_stored", "stored", "bf16", "none" -> AS_STORED;
            case "q8_0", "q8" -> Q8_0;
            case "q4_0", "q4" -> Q4_0;
            default -> throw new IllegalArgumentException("unknown weight format \"" + s + "\"; use as-stored, q8_0 or q4_0");
        };
    }
}
