package dev.nemoh.config;

/**
 * A linear layer {@code y = x Wᵀ + b} of the checkpoint: {@code prefix.weight} [out, in] and {@code prefix.bias}
 * [out] (required when config.json asks for biases, tolerated otherwise). FP8 checkpoints add a per-tensor
 * {@code prefix.weight_scale}.
 *
 * @param module the layer's own name ({@code in_proj}, {@code q_proj}...), as PEFT's {@code target_modules} name it
 */
public record LinearSpec(String prefix, String module, TensorSpec weight, TensorSpec bias) {
    static LinearSpec of(String parent, String module, int out, int in, boolean bias, String biasSetting) {
        String prefix = parent + "." + module;
        return new LinearSpec(prefix, module, TensorSpec.required(prefix + ".weight", out, in),
                TensorSpec.requiredIf(bias, biasSetting, prefix + ".bias", out));
    }

    public int out() {
        return weight.dim(0);
    }

    public int in() {
        return weight.dim(1);
    }

    /** Parameters transformers counts: the weight, and the bias when config.json asks for one. */
    public long parameterCount() {
        return weight.numel() + (bias.required() ? bias.numel() : 0);
    }
}
