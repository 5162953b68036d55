package dev.nemoh.train;

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
        for (int i = 0; i < h.length; i++) {
            float r = Math.max(h[i], 0f);
            act[i] = r * r;
        }
        return down.forward(act, len);
    }

    @Override
    public float[] backward(float[] dy, int len) {
        float[] dAct = down.backward(dy, len);
        for (int i = 0; i < dAct.length; i++) dAct[i] *= 2 * Math.max(h[i], 0f);
        return up.backward(dAct, len);
    }
}
