package dev.nemoh.cuda;

import dev.nemoh.Fixtures;
import dev.nemoh.config.NemotronHConfig;
import dev.nemoh.model.LanguageModel.SequenceState;
import dev.nemoh.model.NemotronHModel;
import dev.nemoh.export.RandomWeights;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The cuda backend against the CPU model on a random model with what the fixtures lack and real checkpoints have:
 * 16 query heads per KV head (Nemotron 3 Nano's attention, decoded in two parts of 8), group-limited expert routing
 * and a latent expert projection. Same tolerance as the fixture tests.
 */
class CudaRandomModelTest {
    static final NemotronHConfig SHAPE = NemotronHConfig.builder()
            .vocabSize(512).hiddenSize(128).pattern("M*EM-*E")
            .attentionHeads(16, 1, 32).intermediateSize(256)
            .mamba(8, 16, 16, 2).chunkSize(16)
            .moe(8, 2, 64, 96).moeRouting(2, 1, true, 2.5).moeLatentSize(64)
            .build();

    @BeforeAll
    static void gpu() {
        TestDevice.cuda();
    }

    @Test
    void promptAndDecodeStepsMatchTheCpuModel(@TempDir Path tmp) {
        RandomWeights.write(SHAPE, tmp, 5);
        int[] prompt = new SplittableRandom(3).ints(40, 0, SHAPE.vocabSize).toArray();
        int[] next = {7, 300, 42, 511};
        try (NemotronHModel cpu = NemotronHModel.load(tmp); CudaModel gpu = CudaModel.load(tmp)) {
            SequenceState cpuState = cpu.newState(), gpuState = gpu.newState();
            float[] expected = cpu.forwardLast(prompt, cpuState), got = gpu.forwardLast(prompt, gpuState);
            double worst = Fixtures.relative(got, Fixtures.widen(expected));
            for (int token : next) {
                expected = cpu.forwardLast(new int[] {token}, cpuState);
                got = gpu.forwardLast(new int[] {token}, gpuState);
                worst = Math.max(worst, Fixtures.relative(got, Fixtures.widen(expected)));
            }
            System.out.printf("cuda random model (GQA 16:1, grouped routing, latent experts) vs cpu: worst rel %.3g%n", worst);
            assertTrue(worst < CudaForwardFixtureTest.REL, "cuda logits differ from the cpu model's by rel " + worst);
        }
    }
}
