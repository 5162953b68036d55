package dev.nemoh.train;

/** What full fine-tuning and adapters share: a {@link DifferentiableModel} that computes losses, gradients and logits. */
abstract class TrainableNemotronH implements TrainableModel {
    final DifferentiableModel model;

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

    /** Logits [len, vocab] of one sequence with the current weights (and adapters). */
    public final float[] logits(int[] ids) {
        return model.forward(ids);
    }
}
