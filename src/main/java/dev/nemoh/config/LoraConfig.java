package dev.nemoh.config;


import java.util.List;

/**
 * LoRA settings as PEFT names them. {@code W x + scaling · B A dropout(x)} with A [r, in] and B [out, r];
 * {@code scaling = alpha / r}, or {@code alpha / √r} with rsLoRA. With DoRA each output row is rescaled to a trained
 * magnitude. Unlike PEFT, the Mamba {@code out_proj} may be targeted.
 */
public record LoraConfig(int r, double alpha, double dropout, List<String> targetModules, boolean useRslora,
                         boolean useDora, long seed) {
    /** The linear layers of Nemotron-H that an adapter can sit on (MoE experts count as up/down_proj). */
    public static final List<String> MODULES = BlockWeights.ADAPTABLE_MODULES;
    /** PEFT's usual targets: every module but the Mamba out_proj, which PEFT refuses, so the adapter loads in PEFT too. */
    public static final List<String> PEFT_TARGETS =
            MODULES.stream().filter(m -> !m.equals(BlockWeights.Mamba2.OUT_PROJ)).toList();

    public LoraConfig {
        if (r < 1) throw new IllegalArgumentException("LoRA rank r must be >= 1, got " + r);
        if (!(alpha > 0)) throw new IllegalArgumentException("LoRA alpha must be positive, got " + alpha);
        if (!(dropout >= 0 && dropout < 1)) {
            throw new IllegalArgumentException("LoRA dropout must lie in [0, 1), got " + dropout);
        }
        if (targetModules == null || targetModules.isEmpty()) {
            throw new IllegalArgumentException("LoRA needs at least one target module, any of " + MODULES);
        }
        for (String m : targetModules) {
            if (!MODULES.contains(m)) {
                throw new IllegalArgumentException("unknown LoRA target module '" + m + "': choose from " + MODULES);
            }
        }
        targetModules = List.copyOf(targetModules);
    }

    /** r 8, alpha 16, no dropout, every module, plain LoRA. */
    public static LoraConfig defaults() {
        return new LoraConfig(8, 16, 0, MODULES, false, false, 0);
    }

    public double scaling() {
        return useRslora ? alpha / Math.sqrt(r) : alpha / r;
    }
}
