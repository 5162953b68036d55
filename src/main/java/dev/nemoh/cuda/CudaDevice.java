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
        this.blas = new Cublas(cuda);
        this.workspace = new Workspace(cuda);
    }

    /** Frees the scratch buffers and cuBLAS's handle and workspace. */
    void close() {
        workspace.close();
        blas.close();
    }
}
