package dev.nemoh.cuda;

/** What every GPU layer computes with: the driver, our kernels, cuBLAS and the shared scratch buffers. */
final class CudaDevice {
    final Cuda cuda;
    final CudaKernels kernels;
    final Cublas blas;
    final Workspace workspace;

    CudaDevice(Cuda cuda) {
        this.cuda = cuda;
        cuda.makeCurrent();
        this.kernels = new CudaKernels(cuda);
        this.blas = new Cublas();
        this.workspace = new Workspace(cuda);
    }
}
