package dev.nemoh.cuda;

import java.util.List;

/** Training form of {@link CudaMlpMixer}: {@code down(relu(up(x))²)}, keeping up's output and the activation. */
final class CudaTrainableMlpMixer implements CudaTrainableMixer {
    private final CudaProjection up, down;

    CudaTrainableMlpMixer(CudaProjection up, CudaProjection down) {
        this.up = up;
        this.down = down;
    }

    @Override
    public void forward(CudaTraining t, String key, long x, int len, long out) {
        long n = (long) len * up.out();
        long h = t.floats(key + ".mlp.h", n), act = t.floats(key + ".mlp.act", n);
        up.forward(t, x, len, h);
        t.k.relu2(CudaTraining.grid(n), 1, CudaTraining.THREADS, h, act, n);
        down.forward(t, act, len, out);
    }

    @Override
    public void backward(CudaTraining t, String key, long x, long dOut, int len, long dx) {
        long n = (long) len * up.out();
        long h = t.floats(key + ".mlp.h", n), act = t.floats(key + ".mlp.act", n);
        long dAct = t.floats("mlp.dAct", n);
        down.backward(t, act, dOut, len, dAct, false);
        t.k.relu2Backward(CudaTraining.grid(n), 1, CudaTraining.THREADS, dAct, h, dAct, n);
        up.backward(t, x, dAct, len, dx, false);
    }

    @Override
    public List<CudaProjection> projections() {
        return List.of(up, down);
    }
}
