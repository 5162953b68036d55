package dev.nemoh.config;

import java.util.Arrays;

/**
 * One tensor of a Nemotron-H checkpoint as transformers saves it: its name, its shape as config.json implies it,
 * whether it trains, and whether a checkpoint must hold it.
 *
 * @param requiredBy for a required tensor that config.json makes required, the setting that does (for the error
 *                   message when it is missing); null otherwise
 */
public record TensorSpec(String name, long[] shape, Role role, boolean required, String requiredBy) {
    /** What a tensor is to training. */
    public enum Role {
        /** a parameter: trained by full fine-tuning and counted by transformers' {@code parameters()} */
        PARAMETER,
        /** a buffer: it steers the forward but never trains (the router's {@code e_score_correction_bias}) */
        BUFFER
    }

    public TensorSpec {
        shape = shape.clone();
    }

    static TensorSpec required(String name, long... shape) {
        return new TensorSpec(name, shape, Role.PARAMETER, true, null);
    }

    /** Present when {@code present}, because the config setting {@code setting} says so; tolerated otherwise. */
    static TensorSpec requiredIf(boolean present, String setting, String name, long... shape) {
        return new TensorSpec(name, shape, Role.PARAMETER, present, present ? setting : null);
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    public int dim(int i) {
        return Math.toIntExact(shape[i]);
    }

    public long numel() {
        long n = 1;
        for (long d : shape) n *= d;
        return n;
    }

    /** For a weight matrix: its FP8 per-tensor scale ({@code x.weight_scale}), present when the weight is FP8. */
    public String scaleName() {
        return name + "_scale";
    }

    /** The tensor's last name component ({@code in_proj.weight} → {@code weight}). */
    public String leaf() {
        return name.substring(name.lastIndexOf('.') + 1);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorSpec t && t.name.equals(name) && Arrays.equals(t.shape, shape) && t.role == role
                && t.required == required;
    }

    @Override
    public int hashCode() {
        return name.hashCode() * 31 + Arrays.hashCode(shape);
    }

    @Override
    public String toString() {
        return name + Arrays.toString(shape) + (required ? "" : " (optional)") + (role == Role.BUFFER ? " buffer" : "");
    }
}
