package dev.nemoh.cuda;

import dev.nemoh.cli.Main;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code nemoh finetune --device cuda} end to end on the toy data and the bundled model: the loss curve of fp32 GPU
 * training equals the CPU's within 1e-3 per step (bf16 within 2e-2), a GPU run resumed from its checkpoint repeats
 * the uninterrupted one bit for bit, and a GPU checkpoint resumes on the CPU within 1e-2 of the GPU's curve.
 */
class CudaFinetuneTest {
    static final int STEPS = 50, HALF = 25;

    static int finetune(Path out, String... extra) {
        List<String> args = new java.util.ArrayList<>(List.of("finetune", "--model", "models/nemoh-tiny", "--data",
                "examples/finetune/toy.jsonl", "--out", out.toString(), "--peft", "lora", "--steps", String.valueOf(STEPS),
                "--lr", "1e-3", "--seed", "42"));
        args.addAll(List.of(extra));
        return Main.run(args.toArray(String[]::new));
    }

    /** Train loss of each step, from loss.csv. */
    static double[] losses(Path out) throws IOException {
        List<String> rows = Files.readAllLines(out.resolve("loss.csv"));
        return rows.stream().skip(1).mapToDouble(r -> Double.parseDouble(r.split(",")[1])).toArray();
    }

    /** loss.csv without its last column, tok/s, which timing decides. */
    static List<String> curve(Path out) throws IOException {
        return Files.readAllLines(out.resolve("loss.csv")).stream().map(r -> r.substring(0, r.lastIndexOf(','))).toList();
    }

    static double worstRelative(double[] a, double[] b) {
        assertEquals(a.length, b.length);
        double worst = 0;
        for (int i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.abs(b[i]));
        return worst;
    }

    @Test
    void gpuLossCurvesFollowTheCpuAndResumeExactly(@TempDir Path tmp) throws IOException {
        TestDevice.cuda();
        Path cpu = tmp.resolve("cpu"), fp32 = tmp.resolve("fp32"), bf16 = tmp.resolve("bf16");
        assertEquals(0, finetune(cpu));
        assertEquals(0, finetune(fp32, "--device", "cuda", "--precision", "fp32", "--save-every", String.valueOf(HALF)));
        assertEquals(0, finetune(bf16, "--device", "cuda", "--precision", "bf16"));
        double[] reference = losses(cpu);
        assertEquals(STEPS, reference.length);
        double fp32Error = worstRelative(losses(fp32), reference), bf16Error = worstRelative(losses(bf16), reference);
        System.out.printf("cuda finetune toy, %d steps: fp32 loss per step within %.2g of cpu, bf16 within %.2g%n",
                STEPS, fp32Error, bf16Error);
        assertTrue(fp32Error < 1e-3, "fp32 loss curve off the cpu's by " + fp32Error);
        assertTrue(bf16Error < 2e-2, "bf16 loss curve off the cpu's by " + bf16Error);

        // resumed on the GPU from step 25: the same curve, bit for bit
        Path resumed = tmp.resolve("resumed");
        assertEquals(0, finetune(resumed, "--device", "cuda", "--precision", "fp32", "--resume",
                fp32.resolve("checkpoint-" + HALF).toString()));
        assertEquals(curve(fp32), curve(resumed), "a GPU run resumed from its checkpoint repeats the uninterrupted one");

        // resumed on the CPU from the GPU's checkpoint
        Path onCpu = tmp.resolve("on-cpu");
        assertEquals(0, finetune(onCpu, "--resume", fp32.resolve("checkpoint-" + HALF).toString()));
        double crossError = worstRelative(losses(onCpu), losses(fp32));
        System.out.printf("cuda checkpoint %d resumed on cpu: loss within %.2g of the gpu's to step %d%n", HALF, crossError,
                STEPS);
        assertTrue(crossError < 1e-2, "a GPU checkpoint resumed on the CPU drifts by " + crossError);
    }

    /**
     * Training that does not fit in GPU memory stops with one line naming the size that did not fit and what to
     * lower (on the emulator, which can lend less memory than it has; a GPU's memory cannot be shrunk for a test).
     */
    @Test
    void outOfGpuMemoryNamesTheSizeAndWhatToLower() {
        Cuda cuda = TestDevice.cuda();
        String[] args = {"train-bench", "--model", "models/nemoh-tiny", "--device", "cuda", "--seq-len", "8192",
                "--batch", "1", "--steps", "1", "--recompute-from", "100000"};
        long[] info = cuda.memoryInfo();
        if (TestDevice.emulated()) {
            // the driver refuses: the emulator lends less memory on request (a GPU cannot), enough for the tiny
            // model's weights, not for the activations of 8,192 tokens
            CudaEmulator.setDeviceMemory(info[1] - info[0] + (8L << 20));
            String line;
            try {
                line = oneErrorLine(args);
            } finally {
                CudaEmulator.setDeviceMemory(0);
            }
            assertTrue(line.matches("error: out of GPU memory: [0-9.]+ MiB asked, [0-9.]+ MiB free of [0-9.]+ MiB on .*"), line);
            assertTrainingAdvice(line);
        }
        // the budget refuses, on a GPU as on the emulator: --gpu-memory leaves 8 MiB beside what is in use now
        String fraction = String.format(java.util.Locale.ROOT, "%.12f", (info[1] - info[0] + (8L << 20)) / (double) info[1]);
        String[] bounded = java.util.stream.Stream.concat(java.util.Arrays.stream(args), java.util.stream.Stream.of(
                "--gpu-memory", fraction)).toArray(String[]::new);
        String line = oneErrorLine(bounded);
        assertEquals(Long.MAX_VALUE, cuda.memory.limit(), "the command's budget ends with it");
        assertTrue(line.startsWith("error: --gpu-memory " + fraction + " (") && line.contains(" cannot hold "), line);
        assertTrainingAdvice(line);
    }

    /** Runs the command, which must fail with exit 2 and one error line and no stack trace; returns that line. */
    private static String oneErrorLine(String... args) {
        java.io.ByteArrayOutputStream err = new java.io.ByteArrayOutputStream();
        java.io.PrintStream saved = System.err;
        int code;
        System.setErr(new java.io.PrintStream(err, true, java.nio.charset.StandardCharsets.UTF_8));
        try {
            code = Main.run(args);
        } finally {
            System.setErr(saved);
        }
        String text = err.toString(java.nio.charset.StandardCharsets.UTF_8).strip();
        String line = text.lines().filter(l -> l.startsWith("error: ")).findFirst().orElse(text);
        System.out.println("cuda out of memory: " + line);
        assertEquals(2, code, text);
        assertEquals(1, text.lines().filter(l -> l.startsWith("error")).count(), text);
        assertTrue(text.lines().noneMatch(l -> l.contains("Exception") || l.startsWith("\tat ")), text);
        return line;
    }

    private static void assertTrainingAdvice(String line) {
        assertTrue(line.contains("--seq-len") && line.contains("--recompute-from (now 100000)")
                && line.contains("--peft lora"), line);
    }
}
