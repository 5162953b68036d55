package dev.nemoh.config;

/**
 * The sizes of a Mamba-2 mixer as config.json sets them: what the scan, the conv and every backend's mixer read.
 *
 * @param heads      SSM heads ({@code mamba_num_heads})
 * @param headDim    channels per head ({@code mamba_head_dim})
 * @param stateSize  SSM state per head and channel ({@code ssm_state_size})
 * @param groups     B/C groups ({@code n_groups}), each shared by heads / groups heads
 * @param inner      heads · headDim, the width of x, z and the scan's output
 * @param convDim    the conv's channels: x, B and C
 * @param convKernel the conv's width
 * @param chunk      tokens per chunk of the SSD scan
 * @param inProjWidth in_proj's output: z, xBC and one dt per head
 */
public record MambaShape(int heads, int headDim, int stateSize, int groups, int inner, int convDim, int convKernel,
                         int chunk, int inProjWidth) {
    static MambaShape of(NemotronHConfig c) {
        return new MambaShape(c.mambaNumHeads, c.mambaHeadDim, c.ssmStateSize, c.nGroups, c.mambaIntermediateSize(),
                c.convDim(), c.convKernel, c.chunkSize, c.inProjSize());
    }

    /** Where in_proj's dt columns start: after z and xBC. */
    public int dtOffset() {
        return inner + convDim;
    }

    /** Chunks of the scan over len tokens (the last may be shorter). */
    public int chunks(int len) {
        return (len + chunk - 1) / chunk;
    }
}
