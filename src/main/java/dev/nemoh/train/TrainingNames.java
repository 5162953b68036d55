package dev.nemoh.train;

/** Checkpoint names ({@code backbone.layers.N...}) against transformers' in-memory module names ({@code model.layers.N...}). */
final class TrainingNames {
    private TrainingNames() {}

    /** {@code backbone.layers.0.mixer.in_proj} → {@code model.layers.0.mixer.in_proj}, as PEFT names the module. */
    static String peftModule(String checkpointPrefix) {
        return checkpointPrefix.startsWith("backbone.") ? "model." + checkpointPrefix.substring("backbone.".length()) : checkpointPrefix;
    }
}
