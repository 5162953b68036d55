package dev.nemoh.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.nemoh.Fixtures;
import org.junit.jupiter.api.Test;

class TrainBenchCommandTest {
    @Test
    void reportsTrainingThroughput() {
        CliTest.Run r = CliTest.run("train-bench", "--model", Fixtures.model("nemotron-h-tiny").toString(),
                "--seq-len", "16", "--batch", "1", "--steps", "1", "--lora-r", "2", "--dora");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("DoRA r=2") && r.out().contains("tok/s (forward + backward + AdamW)"), r.out());
    }

    @Test
    void badSizesAreOneLineErrors() {
        CliTest.Run r = CliTest.run("train-bench", "--model", Fixtures.model("nemotron-h-tiny").toString(), "--seq-len", "1");
        assertEquals(2, r.code());
        assertTrue(r.err().startsWith("error: --seq-len"), r.err());
    }
}
