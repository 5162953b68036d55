package dev.nemoh.cuda;

import dev.nemoh.model.MlpMixer;

/** Nemotron-H's MLP on the GPU: {@code down(relu(up(x))²)}, relu² fused into the up projection's epilogue. */
final class CudaMlpMixer implements CudaMixer {
    private final CudaLinear up, down;

    private CudaMlpMixer(CudaLinear up, CudaLinear down) {
        this.up = up;
        this.down = down;
    }

    static CudaMlpMixer upload(Cuda cuda, MlpMixer cpu) {
        return new CudaMlpMixer(CudaLinear.upload(cuda, cpu.upProj), CudaLinear.upload(cuda, cpu.downProj));
    }

    @Override
    public void forward(CudaDevice d, CudaStep step, int layer, long x, long residual) {
        int rows = step.rows();
        long h = d.workspace.get("mlp.h", 4L * rows * up.out);
        up.forward(d, x, rows, h, false, true);
        down.forward(d, h, rows, residual, true, false);
    }

    @Override
    public long decodeWeightBytes() {
        return up.bytes() + down.bytes();
    }

    @Override
    public void free(Cuda cuda) {
        up.free(cuda);
        down.free(cuda);
    }
}
