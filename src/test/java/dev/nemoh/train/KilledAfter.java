package dev.nemoh.train;

import java.util.List;

/** A model that dies on its n-th training pass, as a run killed in the middle of a step. */
final class KilledAfter implements TrainableModel {
    private final TrainableModel model;
    private final int dieOnCall;
    private int calls;

    KilledAfter(TrainableModel model, int dieOnCall) {
        this.model = model;
        this.dieOnCall = dieOnCall;
    }

    @Override
    public List<Parameter> parameters() {
        return model.parameters();
    }

    @Override
    public LossSum lossAndBackward(int[][] inputIds, int[][] labels, double normalizer) {
        if (++calls == dieOnCall) throw new IllegalStateException("killed in training pass " + calls);
        return model.lossAndBackward(inputIds, labels, normalizer);
    }

    @Override
    public LossSum loss(int[][] inputIds, int[][] labels) {
        return model.loss(inputIds, labels);
    }

    @Override
    public void setTraining(boolean training) {
        model.setTraining(training);
    }

    @Override
    public void seedDropout(long seed) {
        model.seedDropout(seed);
    }

    @Override
    public java.util.Map<String, Object> fingerprint() {
        return model.fingerprint();
    }
}
