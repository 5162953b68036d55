package dev.nemoh.train;

import dev.nemoh.kernels.Vec;

/** Training form of {@link dev.nemoh.model.MlpMixer}: {@code down(relu(up(x))²)}. */
final class TrainableMlpMixer implements TrainableMixer {
    final Projection up, down;
    private float[] h;

    TrainableMlpMixer(Projection up, Projection down) {
        this.up = up;
        this.down = down;
    }

    @Override
    public float[] forward(float[] x, int len) {
        h = up.forward(x, len);
        float[] act = new float[h.length];
        for (int i = 0; i < h.length; i++) act[i] = Vec.reluSquared(h[i]);
        return down.forward(act, len);
    }

    @Override
    public float[] backward(float[] dy, int len) {
        float[] dAct = down.backward(dy, len);
        for (int i = 0; i < dAct.length; i++) dAct[i] *= Vec.reluSquaredGrad(h[i]);
        return up.backward(dAct, len);
    }
}
