package dev.nemoh.train;

import java.util.List;
import java.util.SplittableRandom;

/**
 * A real trainable model small enough to check the loop by hand: next-token logits are row {@code ids[t]} of a
 * V×V table (softmax regression on the current token), with exact analytic gradients, and inverted dropout on the
 * logits while training, so that resuming must restore the dropout seed to reproduce a run.
 */
class BigramModel implements TrainableModel {
    private final int vocab;
    private final Parameter table;
    private final double dropout;
    private SplittableRandom rng = new SplittableRandom(7);
    private boolean training;

    BigramModel(int vocab, double dropout) {
        this.vocab = vocab;
        this.dropout = dropout;
        float[] init = new float[vocab * vocab];
        SplittableRandom r = new SplittableRandom(1);
        for (int i = 0; i < init.length; i++) init[i] = (float) (r.nextGaussian() * 0.02);
        this.table = new Parameter("table", new int[]{vocab, vocab}, init);
    }

    @Override
    public List<Parameter> parameters() {
        return List.of(table);
    }

    @Override
    public LossSum lossAndBackward(int[][] inputIds, int[][] labels, double normalizer) {
        return pass(inputIds, labels, normalizer, true);
    }

    @Override
    public LossSum loss(int[][] inputIds, int[][] labels) {
        return pass(inputIds, labels, 1, false);
    }

    @Override
    public void setTraining(boolean training) {
        this.training = training;
    }

    @Override
    public void seedDropout(long seed) {
        rng = new SplittableRandom(seed);
    }

    private LossSum pass(int[][] ids, int[][] labels, double normalizer, boolean backward) {
        double sum = 0;
        long targets = 0;
        double[] p = new double[vocab];
        for (int r = 0; r < ids.length; r++) {
            for (int t = 0; t + 1 < ids[r].length; t++) {
                int target = labels[r][t + 1];
                if (target == -100) continue;
                int row = ids[r][t] * vocab;
                double keep = training && dropout > 0 ? (rng.nextDouble() < dropout ? 0 : 1 / (1 - dropout)) : 1;
                double max = Double.NEGATIVE_INFINITY;
                for (int j = 0; j < vocab; j++) max = Math.max(max, keep * table.value[row + j]);
                double z = 0;
                for (int j = 0; j < vocab; j++) z += p[j] = Math.exp(keep * table.value[row + j] - max);
                sum += Math.log(z) + max - keep * table.value[row + target];
                targets++;
                if (!backward) continue;
                for (int j = 0; j < vocab; j++) {
                    double d = p[j] / z - (j == target ? 1 : 0);
                    table.grad[row + j] += (float) (keep * d / normalizer);
                }
            }
        }
        return new LossSum(sum, targets);
    }
}
