package dev.nemoh.cuda;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** The dense GEMV's block size: balanced over the SMs when one wave holds every row's warp. */
class CudaLinearTest {
    @Test
    void gemvBlocksSpreadOneWaveEvenlyOverTheSms() {
        // H200 (132 SMs): Nano v2's 4,480-row products fit one wave; 8-warp blocks would leave SMs with 4 and 5
        assertEquals(2, CudaLinear.gemvWarps(4480, 132));
        // the 8B's 4,096 rows are as even in blocks of 8 as in smaller ones; in_proj's 22,656 rows take several waves
        assertEquals(8, CudaLinear.gemvWarps(4096, 132));
        assertEquals(8, CudaLinear.gemvWarps(22656, 132));
        assertEquals(8, CudaLinear.gemvWarps(7168, 132));
        // the emulator's 2 SMs: 40 rows in 5 blocks of 8 leave one SM 3, in 10 blocks of 4 both 5
        assertEquals(4, CudaLinear.gemvWarps(40, 2));
    }
}
