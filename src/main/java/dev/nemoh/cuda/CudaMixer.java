package dev.nemoh.cuda;

/** The GPU form of a block's mixer: reads the normalised input and adds its output to the residual stream. */
interface CudaMixer {
    /**
     * @param x        normalised input [rows, hidden], float32
     * @param residual the block's input [rows, hidden]; the mixer's output is added to it
     */
    void forward(CudaDevice d, CudaStep step, int layer, long x, long residual);

    /** Bytes of weights one decoded token reads. */
    long decodeWeightBytes();

    void free(Cuda cuda);
}
