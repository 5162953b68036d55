package dev.nemoh.train;

import dev.nemoh.io.BaseModelIdentity;

/** What full fine-tuning and adapters share: a {@link DifferentiableModel} that computes losses, gradients and logits. */
abstract class TrainableNemotronH implements TrainableModel {
    final DifferentiableModel model;
    /** {@link BaseModelIdentity} of the base, computed on first use. */
    private String baseIdentity;

    TrainableNemotronH(DifferentiableModel model) {
        this.model = model;
    }

    @Override
    public final LossSum lossAndBackward(int[][] inputIds, int[][] labels, double normalizer) {
        return model.run(inputIds, labels, normalizer, true);
    }

    @Override
    public final LossSum loss(int[][] inputIds, int[][] labels) {
        return model.run(inputIds, labels, 1, false);
    }

    /** The PEFT kind and the adapter settings, as {@link #fingerprint()} lists them. */
    abstract java.util.Map<String, Object> peftSettings();

    /** {@link #peftSettings()}, the base model's identity and, as information, its path. */
    @Override
    public final java.util.Map<String, Object> fingerprint() {
        if (baseIdentity == null) baseIdentity = BaseModelIdentity.of(model.dir);
        java.util.Map<String, Object> f = new java.util.LinkedHashMap<>(peftSettings());
        f.put("base_model", baseIdentity);
        f.put("base_model_path", model.dir.toAbsolutePath().normalize().toString());
        return f;
    }

    /** Logits [len, vocab] of one sequence with the current weights (and adapters). */
    public final float[] logits(int[] ids) {
        return model.forward(ids);
    }
}
